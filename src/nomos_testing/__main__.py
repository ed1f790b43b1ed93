"""`python -m nomos_testing` is the `nomos-testing` command."""

from nomos_testing.entry import main

main()
