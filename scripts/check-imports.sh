#!/usr/bin/env bash
# Fails when a package reaches one it must not depend on, directly or
# through another: the rules of docs/architecture.md's package graph.
# Each rule is "package pattern" then the project packages it must not
# reach (as prefixes of import paths below the module).
set -euo pipefail
mod=$(go list -m)
rules=(
	"sensors|alerting ingest console journal simulator internal cmd"
	"ingest|alerting console journal simulator internal cmd"
	"alerting|ingest console journal simulator internal cmd"
	"alerting/lifecycle|alerting/store"
	"simulator|alerting ingest console journal internal cmd"
	"protocol|ingest alerting console journal simulator internal cmd"
	"storage|alerting ingest protocol console journal simulator internal cmd"
	"cluster|storage alerting ingest console journal simulator internal cmd"
)
fail=0
while read -r pkg deps; do
	rel=${pkg#"$mod"/}
	for rule in "${rules[@]}"; do
		from=${rule%%|*}
		case $rel in "$from" | "$from"/*) ;; *) continue ;; esac
		for dep in $deps; do
			case $dep in "$mod"/*) ;; *) continue ;; esac
			d=${dep#"$mod"/}
			for bad in ${rule#*|}; do
				case $d in "$bad" | "$bad"/*)
					echo "forbidden dependency: $rel reaches $d (rule: $from must not depend on $bad)" >&2
					fail=1 ;;
				esac
			done
		done
	done
done < <(go list -f '{{.ImportPath}} {{join .Deps " "}}' ./...)

# Only the composition roots (cmd/ and internal/app with its
# subpackages) may depend on more than half of the project's packages;
# any other package that does has become a second place where the whole
# is assembled.
total=$(go list ./... | wc -l)
while read -r pkg deps; do
	rel=${pkg#"$mod"/}
	case $rel in cmd/* | internal/app | internal/app/*) continue ;; esac
	n=0
	for dep in $deps; do
		case $dep in "$mod"/*) n=$((n + 1)) ;; esac
	done
	if ((2 * n > total)); then
		echo "too wide: $rel depends on $n of the project's $total packages (at most half outside cmd/ and internal/app)" >&2
		fail=1
	fi
done < <(go list -f '{{.ImportPath}} {{join .Deps " "}}' ./...)
# Packages that must not carry the alert store's database: they use the
# lifecycle's logic (replay, rule checks) without a file.
for pkg in alerting/lifecycle alerting/rulefile internal/replay; do
	if go list -deps "./$pkg" | grep -q '^go.etcd.io/bbolt'; then
		echo "forbidden dependency: $pkg reaches go.etcd.io/bbolt" >&2
		fail=1
	fi
done
exit $fail
