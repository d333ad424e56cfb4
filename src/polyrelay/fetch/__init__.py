"""The hardened URL fetcher: every fetch the server makes on a client's behalf goes here."""
