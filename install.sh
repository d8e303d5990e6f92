#!/usr/bin/env bash
# install.sh: set up everything the rustpar Jupyter kernel needs.
# Run `bash install.sh --help` for details.  Safe to run again at any time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

usage() {
    cat <<'EOF'
Usage: bash install.sh [options]

Sets up the rustpar Jupyter kernel ("Rust (parallel)") on a Debian-like machine
with a Rust toolchain (cargo) and Python 3:

  1. system packages (only when run as root, or with password-less sudo):
     build-essential, pkg-config, openmpi-bin, libopenmpi-dev,
     libclang-dev (the `mpi` crate reads MPI's C headers with it);
     packages already installed are skipped, and `apt-get update` runs only
     when something is missing;
  2. a Python virtual environment in .venv with the packages listed in
     scripts/requirements.txt (pip runs only when that list changes), papermill
     and its Rust translator (python/rustpar-papermill) among them, and
     the repository's python/ folder (the shared client module) on its path;
  3. `cargo build --release --locked -p rustpar-kernel` (honours
     CARGO_TARGET_DIR, default ./target);
  4. the kernelspec "rustpar" for the current user (--user) and for the
     virtual environment (--sys-prefix with VIRTUAL_ENV=.venv);
  5. a warm-up run (scripts/warmup.py: start the kernel, run `1+1`, shut it
     down; then the same with an `:mpi -n 1` cell when MPI is installed) so that the first cell of a notebook is fast later.

Every step is idempotent: running the script again only redoes what changed.

Options:
  --with-mpich    install MPICH (mpich, libmpich-dev) beside Open MPI, which
                  stays the default; cells use it under RUSTPAR_MPIRUN=mpirun.mpich
                  (the test suite installs it to check both)
  --with-browser  install Debian's chromium and Playwright for Python, which
                  the browser tests (tests/browser/) drive JupyterLab with
                  (the test suite installs them; they skip without them)
  --skip-system   do not install system packages (only check and warn)
  --skip-warmup   do not run the warm-up
  -h, --help      show this help and exit

Environment:
  CARGO_TARGET_DIR  where cargo puts build outputs (reuse one across checkouts
                    to avoid rebuilding the kernel's dependencies)
  PYTHON            the Python used to create .venv (default: python3)
EOF
}

SKIP_SYSTEM=0
SKIP_WARMUP=0
WITH_MPICH=0
WITH_BROWSER=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --skip-system) SKIP_SYSTEM=1 ;;
        --skip-warmup) SKIP_WARMUP=1 ;;
        --with-mpich) WITH_MPICH=1 ;;
        --with-browser) WITH_BROWSER=1 ;;
        *) echo "install.sh: unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf 'install.sh: warning: %s\n' "$*" >&2; }
die()  { printf '\ninstall.sh: ERROR: %s\n' "$*" >&2; exit 1; }
trap 'printf "\ninstall.sh: FAILED (exit %s) at line %s: %s\n" "$?" "$LINENO" "$BASH_COMMAND" >&2' ERR

PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
REQUIREMENTS="$ROOT/scripts/requirements.txt"
SUMMARY_NOTES=()

# --------------------------------------------------------------------------
# 1. System packages
# --------------------------------------------------------------------------
SUDO=()
CAN_APT=0
if [[ "$(id -u)" -eq 0 ]]; then
    CAN_APT=1
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    SUDO=(sudo -n)
    CAN_APT=1
fi
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
    CAN_APT=0
fi

is_installed() {  # is_installed PKG: true when dpkg says it is installed
    dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'
}

has_candidate() {  # has_candidate PKG: true when apt knows an installable version
    local cand
    cand="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')"
    [[ -n "$cand" && "$cand" != "(none)" ]]
}

APT_UPDATED=0
apt_update_once() {
    if [[ $APT_UPDATED -eq 0 ]]; then
        info "apt-get update"
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
            || die "apt-get update failed (is the Debian mirror reachable?)"
        APT_UPDATED=1
    fi
}

APT_LOG=""
apt_install() {  # apt_install PKG...: quiet unless it fails
    [[ -n "$APT_LOG" ]] || APT_LOG="$(mktemp -t rustpar-apt.XXXXXX.log)"
    info "apt-get install $*"
    if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "$@" >"$APT_LOG" 2>&1; then
        tail -n 25 "$APT_LOG" >&2
        warn "apt-get install $* failed (full log: $APT_LOG)"
        return 1
    fi
}

step "System packages"
if command -v dpkg >/dev/null 2>&1; then
    # libopenblas-dev: the prelude links OpenBLAS for matrix products (ndarray's `blas` feature).
    wanted=(build-essential pkg-config libopenblas-dev openmpi-bin libopenmpi-dev libclang-dev)
    [[ $WITH_MPICH -eq 1 ]] && wanted+=(mpich libmpich-dev)
    [[ $WITH_BROWSER -eq 1 ]] && wanted+=(chromium)
    missing=()
    for pkg in "${wanted[@]}"; do
        is_installed "$pkg" || missing+=("$pkg")
    done

    if [[ ${#missing[@]} -eq 0 ]]; then
        info "all present (${wanted[*]})"
    elif [[ $SKIP_SYSTEM -eq 1 || $CAN_APT -eq 0 ]]; then
        why="--skip-system was given"
        [[ $SKIP_SYSTEM -eq 0 ]] && why="not root and no password-less sudo"
        [[ ${#missing[@]} -gt 0 ]] && warn "missing system packages (${why}): ${missing[*]}"
        if printf '%s\n' "${missing[@]}" | grep -qx 'openmpi-bin\|libopenmpi-dev\|libclang-dev'; then
            SUMMARY_NOTES+=("MPI missing")
        fi
        if printf '%s\n' "${missing[@]}" | grep -qx 'libopenblas-dev'; then
            die "libopenblas-dev is missing (${why}), and the prelude links OpenBLAS for its matrix products: install it (sudo apt-get install libopenblas-dev) and run install.sh again."
        fi
    else
        apt_update_once
        # Install the required toolchain packages in one go (fail loudly), then
        # the optional ones one by one so that one unavailable package does not
        # stop the rest.
        required=()
        optional=()
        for pkg in "${missing[@]}"; do
            case "$pkg" in
                build-essential|pkg-config|libopenblas-dev) required+=("$pkg") ;;
                *) optional+=("$pkg") ;;
            esac
        done
        if [[ ${#required[@]} -gt 0 ]]; then
            apt_install "${required[@]}" || die "could not install: ${required[*]}"
        fi
        for pkg in "${optional[@]}"; do
            if has_candidate "$pkg"; then
                apt_install "$pkg" || { warn "could not install $pkg"; SUMMARY_NOTES+=("$pkg missing"); }
            else
                warn "$pkg is not available from apt; skipping"
                SUMMARY_NOTES+=("$pkg missing")
            fi
        done
    fi
else
    warn "not a Debian-like system (no dpkg): install a C toolchain, pkg-config and OpenMPI yourself"
fi

command -v cc >/dev/null 2>&1 || die "no C compiler/linker (cc) found: install build-essential (needs root)"
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust from https://rustup.rs (and make sure ~/.cargo/bin is on PATH)"
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: install Python 3"

# The standard library's sources make completions and variable types better;
# the kernel works without them (rustc then names the types, more slowly).
std_sources="$(rustc --print sysroot 2>/dev/null)/lib/rustlib/src/rust/library/core"
if [[ ! -d "$std_sources" ]]; then
    if command -v rustup >/dev/null 2>&1 && timeout 120 rustup component add rust-src >/dev/null 2>&1; then
        info "added the rust-src component (the standard library's sources)"
    else
        warn "the rust-src component is missing and could not be added: the kernel works, with fewer completions and slower first cells"
        SUMMARY_NOTES+=("no rust-src")
    fi
fi

# rustfmt and clippy, which scripts/test.sh runs; rustup's default profile has them.
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1 && command -v rustup >/dev/null 2>&1; then
        timeout 120 rustup component add "$component" >/dev/null 2>&1 && info "added the $component component" \
            || warn "the $component component is missing and could not be added: scripts/test.sh will say so"
    fi
done

# --------------------------------------------------------------------------
# 2. Python virtual environment
# --------------------------------------------------------------------------
step "Python virtual environment (.venv)"
if [[ -x "$VENV/bin/python" ]] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    warn ".venv is broken (its Python does not run); recreating it"
    rm -rf "$VENV"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
    if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        if [[ $CAN_APT -eq 1 && $SKIP_SYSTEM -eq 0 ]]; then
            pyver="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
            apt_update_once
            if has_candidate "python${pyver}-venv"; then
                apt_install "python${pyver}-venv"
            else
                apt_install python3-venv
            fi
        else
            die "the Python venv module is missing: install python3-venv (needs root)"
        fi
    fi
    info "creating .venv with $("$PYTHON" --version 2>&1)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" || die "python3 -m venv .venv failed"
else
    info ".venv exists ($("$VENV/bin/python" --version 2>&1))"
fi

STAMP="$VENV/.rustpar-requirements.sha256"
want_hash="$( { cat "$REQUIREMENTS" python/rustpar-papermill/pyproject.toml; "$VENV/bin/python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want_hash" ]]; then
    info "Python packages up to date (scripts/requirements.txt unchanged)"
else
    info "pip install -r scripts/requirements.txt"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQUIREMENTS" \
        || die "pip install failed (is PyPI reachable?)"
    echo "$want_hash" > "$STAMP"
fi
if [[ $WITH_BROWSER -eq 1 ]]; then
    info "pip install -r scripts/requirements-browser.txt"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$ROOT/scripts/requirements-browser.txt" \
        || { warn "could not install Playwright: the browser tests will be skipped"; SUMMARY_NOTES+=("Playwright missing"); }
fi
# The shared client module (python/rustpar_client.py) for tests, scripts and benchmarks.
"$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' | {
    read -r site && echo "$ROOT/python" > "$site/rustpar.pth"
}

# --------------------------------------------------------------------------
# 3. Build the kernel
# --------------------------------------------------------------------------
step "Building rustpar-kernel (cargo build --release --locked)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
export CARGO_TARGET_DIR="$TARGET"
info "CARGO_TARGET_DIR=$TARGET"
build_start=$SECONDS
cargo build --release --locked -p rustpar-kernel \
    || die "cargo build failed (see the compiler output above)"
info "build step took $((SECONDS - build_start)) s"
BIN="$TARGET/release/rustpar-kernel"
[[ -x "$BIN" ]] || die "the build finished but $BIN does not exist"

# --------------------------------------------------------------------------
# 4. Kernelspecs
# --------------------------------------------------------------------------
step "Installing the kernelspec 'rustpar'"
"$BIN" install --user || die "rustpar-kernel install --user failed"
VIRTUAL_ENV="$VENV" "$BIN" install --sys-prefix || die "rustpar-kernel install --sys-prefix failed"
if ! "$VENV/bin/jupyter" kernelspec list 2>/dev/null | awk '{print $1}' | grep -qx rustpar; then
    "$VENV/bin/jupyter" kernelspec list >&2 || true
    die "the venv's Jupyter does not list the kernel 'rustpar'"
fi
info "$("$VENV/bin/jupyter" kernelspec list 2>/dev/null | awk '$1 == "rustpar" {print "rustpar -> " $2}' | head -1)"

# --------------------------------------------------------------------------
# 5. Warm-up
# --------------------------------------------------------------------------
WARMUP="skipped"
if [[ $SKIP_WARMUP -eq 0 ]]; then
    step "Warm-up (start the kernel, run 1+1, shut down)"
    warm_start=$SECONDS
    "$VENV/bin/python" "$ROOT/scripts/warmup.py" || die "warm-up failed: the kernel did not evaluate 1+1 (see above)"
    # The first :mpi cell builds the prelude with MPI once (a few minutes); do it now.
    if command -v mpirun >/dev/null 2>&1; then
        "$VENV/bin/python" "$ROOT/scripts/warmup.py" --code $':mpi -n 1\nprintln!("ready");' --expect "" --timeout 1500 \
            || { warn "an :mpi cell did not run (see above): MPI cells will fail until that is fixed"; SUMMARY_NOTES+=("MPI cells do not build"); }
    fi
    WARMUP="$((SECONDS - warm_start)) s"
fi

notes=""
[[ ${#SUMMARY_NOTES[@]} -gt 0 ]] && notes="; notes: ${SUMMARY_NOTES[*]}"
trap - ERR
printf '\nrustpar: OK - kernel "Rust (parallel)" (rustpar) installed from %s; venv %s; warm-up %s%s\n' \
    "$BIN" "$VENV" "$WARMUP" "$notes"
