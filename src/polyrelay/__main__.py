from polyrelay.cli import main

raise SystemExit(main())
