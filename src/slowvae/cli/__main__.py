import sys

from slowvae.cli import main

sys.exit(main())
