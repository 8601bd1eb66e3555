"""``python -m cnnstat``."""

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while the command line itself loads: nothing has started, nothing to show
    raise SystemExit(130) from None

main()
