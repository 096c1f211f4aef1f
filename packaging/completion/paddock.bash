# bash completion for paddock and paddockd. Installed twice, as
# /usr/share/bash-completion/completions/paddock and .../paddockd, because bash-completion loads a
# file by the name of the command being completed.
#
# Subcommands and options are read from the program's own --help, so commands added in later
# versions complete without changing this file.

_paddock_help_words() {
  # $1: "subcommands" or "options"; the rest: the command line so far (program + subcommands)
  local what=$1
  shift
  "$@" --help 2>/dev/null | awk -v what="$what" '
    /^Subcommands:/ { sect = "subcommands"; next }
    /^Options:/     { sect = "options"; next }
    /^[^ ]/         { sect = "" }
    sect == "subcommands" && what == "subcommands" && /^  [a-z]/ { print $1 }
    sect == "options" && what == "options" && /^  -/ {
      n = split($1, parts, ",")
      for (i = 1; i <= n; i++) { sub(/=.*/, "", parts[i]); if (parts[i] ~ /^-/) print parts[i] }
    }'
}

_paddock() {
  local cur prev words cword
  if declare -F _init_completion >/dev/null; then
    _init_completion || return
  else
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
  fi

  case $prev in
  -c | --config | -o | --output | --target)
    if [[ $prev == --target ]]; then
      mapfile -t COMPREPLY < <(compgen -d -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
    return
    ;;
  esac

  # The program and the subcommands typed so far (words that are not options or their values).
  local cmd=("${words[0]}") i w
  for ((i = 1; i < cword; i++)); do
    w=${words[i]}
    [[ $w == -* ]] && continue
    case ${words[i - 1]} in -c | --config | -o | --output | --target | --kernel) continue ;; esac
    if _paddock_help_words subcommands "${cmd[@]}" | grep -qx -- "$w"; then
      cmd+=("$w")
    fi
  done

  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_paddock_help_words options "${cmd[@]}")" -- "$cur")
    return
  fi
  local subs
  subs=$(_paddock_help_words subcommands "${cmd[@]}")
  if [[ -n $subs ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$subs" -- "$cur")
  else
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  fi
}

complete -F _paddock paddock paddockd
