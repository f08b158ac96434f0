import sys

from iacsieve.cli import main

sys.exit(main())
