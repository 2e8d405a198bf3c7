#!/usr/bin/env bash
# Make sure Apache PDFBox Preflight (Debian's libpdfbox2-java) can run, for the PDF/A
# test in tests/reports/test_pdfa.py; installs the Debian packages when root and missing.
# Without them that test is skipped, not failed, so this only ever adds a check.
set -euo pipefail
JARS=/usr/share/java
need=()
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)
[ -e "$JARS/preflight.jar" ] || need+=(libpdfbox2-java)
[ -e "$JARS/javax.activation.jar" ] || need+=(libactivation-java)
[ -e "$JARS/jaxb-api.jar" ] || need+=(libjaxb-api-java)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "pdfa-validator: installing Debian's ${need[*]}" >&2
    apt-get update -qq >/dev/null || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null \
      || echo "pdfa-validator: could not install ${need[*]}; the Preflight test will be skipped" >&2
  else
    echo "pdfa-validator: ${need[*]} missing (not root); the Preflight test will be skipped" >&2
  fi
fi
exec "$@"
