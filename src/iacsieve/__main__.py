import sys

from iacsieve.cli.app import main

sys.exit(main())
