"""HTTP endpoints beyond the three protocol routes (models, tasks, stored responses)."""
