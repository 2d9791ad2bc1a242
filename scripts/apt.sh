# Sourced by the set-up scripts:
#   ensure_packages PKG...   installs the Debian packages that are not installed yet
#                            (apt-get update first, only when something is missing);
#   debian_uri               the Debian archive this machine's own apt sources use;
#   private_apt DIR LINE     an apt configuration of our own in DIR with the one sources
#                            line LINE (written at run time, never committed), updated;
#                            its options are left in the array PRIVATE_APT.
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  printf '[apt] installing %s\n' "${missing[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# The Debian mirror this machine already uses (deb822 sources first, then one-line lists).
debian_uri() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    uri="$(awk '
      /^URIs:/ { u = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i !~ /-security$/ && $i !~ /-updates$/ && $i !~ /-backports$/) s = 1 }
      /^$/ { if (u != "" && s && !done) { print u; done = 1 } u = ""; s = 0 }
      END { if (u != "" && s && !done) print u }' "$f")"
    if [[ -n "$uri" && "$uri" != *security* ]]; then echo "$uri"; return; fi
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    uri="$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f")"
    if [[ -n "$uri" ]]; then echo "$uri"; return; fi
  done
  echo "no Debian archive found in /etc/apt/sources.list*: cannot fetch Debian packages or sources" >&2
  return 1
}

private_apt() {
  local dir=$1 line=$2
  mkdir -p "$dir/lists/partial" "$dir/archives/partial"
  printf '%s\n' "$line" > "$dir/sources.list"
  PRIVATE_APT=(
    -o "Dir::Etc::SourceList=$dir/sources.list"
    -o "Dir::Etc::SourceParts=/nonexistent"
    -o "Dir::State::Lists=$dir/lists"
    -o "Dir::Cache::Archives=$dir/archives"
    -o "APT::Sandbox::User=root"
  )
  apt-get "${PRIVATE_APT[@]}" -qq update >&2
}
