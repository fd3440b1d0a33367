import sys

from liveloop.cli import main

sys.exit(main())
