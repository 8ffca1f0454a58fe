#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# build-deb.sh - the Debian package of mtaguard, from `make install` into a
# staging tree and dpkg-deb (no debhelper: the install target already puts
# every file where Debian wants it). Run by `make deb`.
#
#   tools/debian/build-deb.sh BUILD_DIR VERSION   -> BUILD_DIR/mtaguard_VERSION_ARCH.deb
set -euo pipefail

BUILD="$(cd "$1" && pwd)"
VERSION="$2"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEB="$REPO/tools/debian"
ARCH="$(dpkg --print-architecture)"
STAGE="$BUILD/deb"
ROOT="$STAGE/root"
OUT="$BUILD/mtaguard_${VERSION}_${ARCH}.deb"

rm -rf "$STAGE"
mkdir -p "$ROOT/DEBIAN"
# Debian 12 keeps units in /lib/systemd/system (usrmerge links /lib to /usr/lib).
make -s -C "$REPO" install BUILD="$BUILD" DESTDIR="$ROOT" PREFIX=/usr UNITDIR=/lib/systemd/system >/dev/null
# The license texts are in the copyright file, as Debian wants them.
rm -f "$ROOT/usr/share/doc/mtaguard/LICENSE"
install -m 0644 "$DEB/copyright" "$ROOT/usr/share/doc/mtaguard/copyright"
sed "s|@VERSION@|$VERSION|" "$DEB/changelog" | gzip -9n >"$ROOT/usr/share/doc/mtaguard/changelog.Debian.gz"
gzip -9n "$ROOT"/usr/share/man/man*/*.[0-9]
# Binaries without their debug information (it would triple the package).
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$ROOT"/usr/sbin/*
chmod 0644 "$ROOT/usr/share/doc/mtaguard/changelog.Debian.gz"

# Depends from the libraries the programs link (dpkg-shlibdeps wants a debian/control to exist).
mkdir -p "$STAGE/src/debian"
printf 'Source: mtaguard\n\nPackage: mtaguard\nArchitecture: any\n' >"$STAGE/src/debian/control"
depends="$(cd "$STAGE/src" && dpkg-shlibdeps -O "$ROOT"/usr/sbin/* | sed -n 's/^shlibs:Depends=//p')"
size="$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)"
sed -e "s|@VERSION@|$VERSION|" -e "s|@ARCH@|$ARCH|" -e "s|@SIZE@|$size|" -e "s|@DEPENDS@|$depends|" \
	"$DEB/control.in" >"$ROOT/DEBIAN/control"
install -m 0644 "$DEB/conffiles" "$ROOT/DEBIAN/conffiles"
install -m 0755 "$DEB/postinst" "$DEB/prerm" "$DEB/postrm" "$ROOT/DEBIAN/"
(cd "$ROOT" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | sort -z | xargs -0 md5sum) \
	>"$ROOT/DEBIAN/md5sums"
chmod 0644 "$ROOT/DEBIAN/md5sums"
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$OUT" >/dev/null
echo "$OUT"
