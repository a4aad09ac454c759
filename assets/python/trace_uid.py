"""Prints the user and group it runs as, for `threadlab trace` tests."""
import os

print("uid=%d gid=%d home=%s" % (os.getuid(), os.getgid(), os.environ.get("HOME")))
