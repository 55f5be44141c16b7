from bifrost.cli import main

raise SystemExit(main())
