#!/bin/sh
# snapshot.sh [FILE]: what the roles could change on the host - the boot configuration files, the initramfs and
# the loaded modules - on stdout, and into FILE when given. A check-mode run must leave this output the same.
snapshot() {
    for d in /etc/modprobe.d /etc/modules-load.d /etc/default/grub.d; do
        [ -d "$d" ] && find "$d" -xdev \( -type f -o -type l \) -print
    done | sort | while read -r f; do sha256sum "$f"; done
    [ -e /etc/modules ] && sha256sum /etc/modules
    for f in /boot/initrd.img-*; do sha256sum "$f"; stat -c '%n %Y' "$f"; done
    cut -d' ' -f1 /proc/modules | sort
}
cd / || exit 1
if [ -n "$1" ]; then
    snapshot > "$1"
    cat "$1"
else
    snapshot
fi
