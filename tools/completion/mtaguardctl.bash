# SPDX-License-Identifier: GPL-2.0-only
# bash completion for mtaguardctl: its commands, their words and its options,
# as `mtaguardctl --help` lists them (e2e_ctlsock checks that they agree).

_mtaguardctl()
{
	local cur prev words cword
	_init_completion 2>/dev/null || {
		cur="${COMP_WORDS[COMP_CWORD]}"
		prev="${COMP_WORDS[COMP_CWORD-1]}"
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	}
	local commands="status top show roles verdicts block unblock allow disallow allowlist monitor outbreaks except quarantine import export"
	local opts="--socket --json --duration --action --comment --signature --force --origin --by --source --ttl --sync --drop --format --verbose --help --version"

	# An option's argument.
	case "$prev" in
	-s | --socket)
		COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	-a | --action)
		COMPREPLY=($(compgen -W "smtp all" -- "$cur"))
		return ;;
	-F | --format)
		COMPREPLY=($(compgen -W "cidr json" -- "$cur"))
		return ;;
	--by)
		COMPREPLY=($(compgen -W "analyzer operator cluster bgp feed pinned" -- "$cur"))
		return ;;
	-d | --duration | -m | --comment | -S | --signature | -o | --origin | -t | --ttl | --source)
		return ;;
	esac
	if [[ "$cur" == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return
	fi

	# The command is the first word that is neither an option nor an option's argument.
	local i cmd="" n=0
	for ((i = 1; i < cword; i++)); do
		case "${words[i]}" in
		-s | --socket | -d | --duration | -a | --action | -m | --comment | -S | --signature | -o | --origin | \
			-t | --ttl | -F | --format | --by | --source)
			((i++)) ;;
		-*) ;;
		*)
			if [[ -z "$cmd" ]]; then cmd="${words[i]}"; else ((n++)); fi ;;
		esac
	done
	case "$cmd" in
	"") COMPREPLY=($(compgen -W "$commands" -- "$cur")) ;;
	monitor) ((n == 0)) && COMPREPLY=($(compgen -W "on off" -- "$cur")) ;;
	quarantine) ((n == 0)) && COMPREPLY=($(compgen -W "list release delete" -- "$cur")) ;;
	except) ((n == 0)) && COMPREPLY=($(compgen -W "list add remove" -- "$cur")) ;;
	import) ((n == 0)) && COMPREPLY=($(compgen -f -- "$cur")) ;;
	esac
}
complete -F _mtaguardctl mtaguardctl
