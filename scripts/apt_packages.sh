# Sourced by scripts/ensure_*.sh: install Debian packages with apt, as root or through
# passwordless sudo, with one clear message when neither is possible.
#   apt_packages "what they are for" package [package ...]
# APT_EXTRA_OPTIONS (an array, optional) goes to apt-get install, e.g. (--no-install-recommends).
# Returns 1 (after saying why) when it cannot install; apt-get's own failure ends the script.

apt_packages() {
    local purpose="$1"
    shift
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            echo "missing for $purpose: $*; installing needs root (no passwordless sudo here):" >&2
            echo "  run 'sudo apt-get install -y $*'" >&2
            return 1
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "missing for $purpose: $*, and there is no apt-get on this machine:" >&2
        echo "  install them with the system's package manager" >&2
        return 1
    fi
    echo "installing $* for $purpose"
    export DEBIAN_FRONTEND=noninteractive
    local install=("${sudo[@]}" apt-get install -y "${APT_EXTRA_OPTIONS[@]}" "$@")
    # A fresh machine often has no package lists yet: refresh them only when the first try fails.
    if ! "${install[@]}"; then
        "${sudo[@]}" apt-get update
        "${install[@]}"
    fi
}
