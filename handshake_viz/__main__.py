from handshake_viz.cli import main

raise SystemExit(main())
