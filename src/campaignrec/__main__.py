"""``python -m campaignrec`` runs the command line."""

from campaignrec.cli.main import main

main()
