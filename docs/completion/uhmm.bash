# bash completion for uhmm(1): commands, their options, module files.
# Installed as share/bash-completion/completions/uhmm.

_uhmm()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local commands="demo bench modinfo load list exports stat top help"

	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W "$commands --version --help" -- "$cur"))
		return
	fi
	case ${COMP_WORDS[1]} in
	bench)
		case $prev in
		--runs) COMPREPLY=($(compgen -W "1 3 5 10" -- "$cur")) ;;
		--filter) COMPREPLY=($(compgen -W "memremap percpu_ref migrate hmm" -- "$cur")) ;;
		*) COMPREPLY=($(compgen -W "--json --runs --filter --help" -- "$cur")) ;;
		esac
		;;
	modinfo|load|list)
		if [[ $cur == -* ]]; then
			local opts="--json --help"
			[ "${COMP_WORDS[1]}" = list ] && opts="--json --human --help"
			COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		else
			compopt -o filenames 2>/dev/null
			COMPREPLY=($(compgen -f -X '!*.so' -- "$cur") $(compgen -d -- "$cur"))
		fi
		;;
	top)
		case $prev in
		-d|--delay) COMPREPLY=($(compgen -W "0.5 1 2 5" -- "$cur")) ;;
		-n|--iterations) COMPREPLY=($(compgen -W "1 5 10" -- "$cur")) ;;
		*) COMPREPLY=($(compgen -W "--json --delay --iterations --help" -- "$cur")) ;;
		esac
		;;
	exports|stat) COMPREPLY=($(compgen -W "--json --help" -- "$cur")) ;;
	demo) COMPREPLY=($(compgen -W "--help" -- "$cur")) ;;
	help) [ "$COMP_CWORD" -eq 2 ] && COMPREPLY=($(compgen -W "demo bench modinfo load list exports stat top" -- "$cur")) ;;
	esac
}
complete -F _uhmm uhmm
