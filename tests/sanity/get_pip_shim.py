"""Stand-in for the pip bootstrap script ansible-test downloads from a host
this machine cannot reach. It does the same job with the standard library's
ensurepip, then installs the requested pip version from the package index.

ansible-test runs pip with a cleaned environment, so the system CA bundle
(e.g. a TLS-intercepting proxy's root) is written into the new virtual
environment's own pip.conf, where every later pip call there finds it.
scripts/test.py copies this file to ~/.ansible/test/cache/get_pip_<ver>.py.
"""
import ensurepip
import os
import runpy
import sys

for bundle in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"):
    if os.path.exists(bundle):
        with open(os.path.join(sys.prefix, "pip.conf"), "w") as conf:
            conf.write("[global]\ncert = %s\n" % bundle)
        break

ensurepip.bootstrap()
# ensurepip points PIP_CONFIG_FILE at /dev/null in this process; undo that so
# the pip.conf above applies.
os.environ.pop("PIP_CONFIG_FILE", None)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.argv = ["pip", "install"] + args
runpy.run_module("pip", run_name="__main__", alter_sys=True)
