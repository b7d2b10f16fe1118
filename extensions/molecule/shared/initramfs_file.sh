#!/bin/sh
# initramfs_file.sh PATH: print PATH (for example etc/modprobe.d/brd.conf) as the running kernel's initramfs holds
# it, unpacked with initramfs-tools' own unmkinitramfs; exit 3 when the image does not hold it.
set -e
image=/boot/initrd.img-$(uname -r)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unmkinitramfs "$image" "$work"
found=$(find "$work" -path "*/$1" -type f | head -n 1)
[ -n "$found" ] || exit 3
cat "$found"
