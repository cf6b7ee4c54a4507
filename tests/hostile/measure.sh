#!/usr/bin/env bash
# Hostile input, measured: every case of docs/safety.md's tables, run against the built Release CLI,
# printing one markdown row per case: the command, its exit code, wall seconds, peak resident memory
# (GNU time's %M) and the first line it wrote to stderr (or stdout when stderr is empty).
#
#   tests/hostile/measure.sh            # builds src/AlphabetLstm.Cli in Release first
#   ALPHABET_LSTM_DLL=path/alphabet-lstm.dll tests/hostile/measure.sh   # measures that build
#
# Needs GNU time at /usr/bin/time (Debian: `apt-get install time`), mkfifo, python3, timeout, and for the
# culture rows the de_DE and tr_TR locales' ICU data (libicu; the locales need not be generated).
# Every hostile file is made in a scratch folder, removed at the end; every command runs under
# `timeout 60`, so a hang shows as exit 124 instead of stopping the script.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [[ ! -x /usr/bin/time ]]; then
  echo "measure.sh needs GNU time at /usr/bin/time: run 'apt-get install time' (Debian) and try again" >&2
  exit 2
fi
dll=${ALPHABET_LSTM_DLL:-}
if [[ -z "$dll" ]]; then
  dotnet build "$repo/src/AlphabetLstm.Cli" -c Release -v q -nologo >/dev/null
  dll="$repo/src/AlphabetLstm.Cli/bin/Release/net10.0/alphabet-lstm.dll"
fi
cli=(dotnet "$dll")
scratch=$(mktemp -d -t alphabet-lstm-hostile.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"

# ---- the inputs ---------------------------------------------------------------------------------
quiet() { "$@" >/dev/null 2>&1; }
python3 -c "print('the cat sat on the mat. the dog sat on the log. ' * 40)" > t.txt
quiet "${cli[@]}" train --text t.txt --epochs 1 --units 4 --window 3 --save text.json --quiet
quiet "${cli[@]}" train stateful --epochs 1 --save m.json --quiet
quiet "${cli[@]}" export --model m.json --onnx s.onnx
python3 "$repo/tests/hostile/onnx_edit.py" s.onnx huge.onnx huge-dims
python3 "$repo/tests/hostile/onnx_edit.py" s.onnx squeeze.onnx squeeze7
python3 "$repo/tests/hostile/onnx_edit.py" s.onnx t31.onnx time-steps=2147483647
ln -s /dev/zero zero.onnx
ln -s /dev/zero zero.json
mkfifo fifo.onnx fifo.json fifo.txt
truncate -s 200M big.onnx
truncate -s 100M mid.onnx
for k in 0 1 2; do quiet "${cli[@]}" experiment stateful --seeds 3 --epochs 1 --quiet --jobs 1 --shard $k/3 --json p$k.json; done
cp p2.json real-2.json && ln -s real-2.json link-2.json
edit() { # edit SOURCE TARGET PYTHON-STATEMENT-ON-d
  python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
exec(sys.argv[3])
open(sys.argv[2], "w").write(json.dumps(d, allow_nan=True))
EOF
}
edit p0.json zero-shards.json 'd["shard"]["count"] = 0; d["shard"]["index"] = 0'
edit p0.json minus-shard.json 'd["shard"]["count"] = -3; d["shard"]["index"] = -1'
edit p0.json ragged.json 'd["runs"][0]["traces"]["fromA"]["hidden"][3] = [0.5]'
edit p0.json acc15.json 'd["runs"][0]["accuracy"] = 1.5'
edit p0.json accinf.json 'd["runs"][0]["accuracy"] = "@NEGINF@"'
sed -i 's/"@NEGINF@"/-1e999/' accinf.json
edit p0.json esc.json 'd["runs"][0]["experiment"] = "\u001b]0;owned\u0007\u001b[2J"'
edit p0.json long.json 'r = d["runs"][0]; r["epochs"] = 1000000; r["lossHistory"] = [1.0] * 3000000; r["accuracyHistory"] = [0.5] * 3000000'
python3 -c "import sys; cs = [chr(c) for c in range(0x4E00, 0x30000) if not 0xD800 <= c < 0xF900][:100000]; sys.stdout.write(''.join(cs) * 2)" > wide.txt
quiet "${cli[@]}" train --text t.txt --epochs 2 --units 4 --window 3 --save g.json --checkpoint ck --checkpoint-every 1 --quiet
rm -f g.json
# Stacked layers: a two-layer model (float64, so the damage is measured against float64's range), its
# export, a state for it, and damaged copies
quiet "${cli[@]}" train --text t.txt --epochs 1 --units 4 --window 3 --layers 2 --precision float64 --save two.json --quiet
quiet "${cli[@]}" export --model two.json --onnx two.onnx
python3 "$repo/tests/hostile/onnx_edit.py" two.onnx units8.onnx units-2=8
python3 "$repo/tests/hostile/onnx_edit.py" two.onnx bidi.onnx bidirectional-2
edit two.json layers65.json 'd["lstm"]["layers"] = 65'
edit two.json layers3.json 'd["lstm"]["layers"] = 3'
edit two.json v2-layers.json 'd["version"] = 2'
edit two.json big-upper.json 'd["lstm"]["upper"][0]["kernel"][0][0] = 1e300'
sed -i 's/1e+300/1e400/' big-upper.json
edit two.json nan-two.json 'u = d["lstm"]["upper"][0]; u["kernel"] = [[1e308] * len(r) for r in u["kernel"]]; u["bias"] = [1e308] * len(u["bias"]); d["dense"]["kernel"] = [[1e308] * len(r) for r in d["dense"]["kernel"]]'
edit two.json wide-two.json 'd["lstm"]["upper"][0]["kernel"][0][0] = 1e300'
python3 -c "import json; z = [[0.0] * 4]; json.dump({'layers': [{'h': z, 'c': z}] * 2, 'h': z, 'c': z}, open('both.json', 'w')); json.dump({'layers': [{'h': z, 'c': z}] * 3}, open('three.json', 'w')); json.dump({'layers': [{'h': z, 'c': z}] * 2}, open('st.json', 'w'))"
python3 -c "import json; print(json.dumps([[[1.0 if k == 3 else 0.0 for k in range(len(json.load(open('two.json'))['vocabulary']))]] * 3]))" > in.json
quiet "${cli[@]}" train --text t.txt --epochs 2 --units 4 --window 3 --layers 2 --save g2.json --checkpoint ck2 --checkpoint-every 1 --quiet
rm -f g2.json
sed -i '0,/"layers": 2/s//"layers": 3/' ck2/checkpoint.json
# Precision: a float32 model (a text run's default) and damaged copies
quiet "${cli[@]}" train --text t.txt --epochs 1 --units 4 --window 3 --layers 2 --save two32.json --quiet
edit two32.json f32-big.json 'd["lstm"]["kernel"][0][0] = 1e39'
edit two32.json f32-v3.json 'd["version"] = 3'
edit two32.json f32-half.json 'd["precision"] = "float16"'

# ---- the cases ----------------------------------------------------------------------------------
echo "| case | command | exit | s | peak MiB | first line |"
echo "|---|---|---:|---:|---:|---|"
row() { # row CASE [VAR=value ...] -- COMMAND...   (the command after --; stdin from /dev/null unless FEED is set)
  local name=$1; shift
  local env=()
  while [[ $1 != -- ]]; do env+=("$1"); shift; done
  shift
  local shown="$*"
  shown=${shown//$dll/alphabet-lstm.dll}
  local code
  set +e
  if [[ -n ${FEED:-} ]]; then
    bash -c "$FEED" | env "${env[@]}" timeout 60 /usr/bin/time -o time.txt -f '%e %M' "$@" >out.txt 2>err.txt
    code=${PIPESTATUS[1]}
  elif [[ -n ${HEAD:-} ]]; then
    env "${env[@]}" timeout 60 /usr/bin/time -o time.txt -f '%e %M' "$@" 2>err.txt | head -c "$HEAD" >out.txt
    code=${PIPESTATUS[0]}
  else
    env "${env[@]}" timeout 60 /usr/bin/time -o time.txt -f '%e %M' "$@" >out.txt 2>err.txt </dev/null
    code=$?
  fi
  set -e
  local seconds kib line
  read -r seconds kib < <(grep -E '^[0-9.]+ [0-9]+$' time.txt || echo "? 0")
  if [[ -n ${BYTES:-} ]]; then line=$(head -c "$BYTES" out.txt)
  elif [[ -n ${SHOW:-} ]]; then line=$(cat err.txt out.txt | grep -o -m 1 -- "$SHOW" || true)
  else
    line=$(head -n 1 err.txt | cut -c 1-200)
    [[ -z "$line" ]] && line=$(head -n 1 out.txt | cut -c 1-200)
  fi
  printf '| %s | `%s` | %s | %s | %s | %s |\n' "$(visible "$name")" "$(visible "${shown#dotnet alphabet-lstm.dll }")" "$code" "$seconds" "$((kib / 1024))" "$(visible "$line")"
}
# Control characters shown as \xNN (never sent raw to the terminal), newlines as \n, and | escaped for markdown.
visible() { printf '%s' "$1" | perl -CS -0777 -pe 's/\n/\\n/g; s/([\x00-\x1f\x7f])/sprintf("\\x%02x", ord $1)/ge; s/\|/\\|/g'; }
A=("${cli[@]}")

# Readers: devices, FIFOs, pipes, sizes (issue rows of "one way to read a file")
row "import: link to /dev/zero" -- "${A[@]}" import --onnx zero.onnx --save x.json
row "import: FIFO nobody writes" -- "${A[@]}" import --onnx fifo.onnx --save x.json
row "import: 200 MB file" -- "${A[@]}" import --onnx big.onnx --save x.json
row "import: 100 MB file, limit 64M" ALPHABET_LSTM_MAX_MEMORY=64M -- "${A[@]}" import --onnx mid.onnx --save x.json
row "import: W declares 3.6e9 numbers" -- "${A[@]}" import --onnx huge.onnx --save x.json
row "import: Squeeze axis 7" -- "${A[@]}" import --onnx squeeze.onnx --save x.json
row "import: T = 2^31-1 in metadata" -- "${A[@]}" import --onnx t31.onnx --save x.json
row "merge: part links to /dev/zero" -- "${A[@]}" merge p0.json p1.json zero.json
row "merge: part is a FIFO" -- "${A[@]}" merge p0.json p1.json fifo.json
row "merge: part claims 0 shards" -- "${A[@]}" merge zero-shards.json
row "merge: shard -1/-3" -- "${A[@]}" merge minus-shard.json
row "merge: ragged hidden-state trace" -- "${A[@]}" merge ragged.json p1.json p2.json
row "merge: accuracy 1.5" -- "${A[@]}" merge acc15.json p1.json p2.json --out r1
row "merge: accuracy -Infinity" -- "${A[@]}" merge accinf.json p1.json p2.json --out r2
row "merge --out: million-epoch histories" -- "${A[@]}" merge long.json p1.json p2.json --out r3
row "train --text --units 2000" -- "${A[@]}" train --text t.txt --units 2000 --save x.json --quiet
row "train --text 100,000 distinct, index, window 1000" -- "${A[@]}" train --text wide.txt --stateful --encoding index --window 1000 --batch-size 1 --save x.json --quiet
FEED="head -c 20000000 /dev/zero | tr '\\0' a" row "train --text /dev/stdin, 20 MB piped, limit 64M" ALPHABET_LSTM_MAX_MEMORY=64M -- "${A[@]}" train --text /dev/stdin --save x.json --quiet
row "train --text FIFO nobody writes" -- "${A[@]}" train --text fifo.txt --save x.json --quiet
# Outputs aimed at inputs
row "import --save over its --onnx" -- "${A[@]}" import --onnx s.onnx --save s.onnx
row "export --onnx over its --model" -- "${A[@]}" export --model m.json --onnx m.json
row "train --save over its --text" -- "${A[@]}" train --text t.txt --save t.txt --quiet
row "train --json over its --save" -- "${A[@]}" train --text t.txt --save y.json --json y.json --quiet
row "train --plot over its --save" -- "${A[@]}" train --text t.txt --save y.json --plot y.json --quiet
row "resume --save over the run's text" -- "${A[@]}" resume ck --save t.txt --quiet
row "merge --json over a part" -- "${A[@]}" merge p0.json p1.json p2.json --json p0.json
row "merge --json over a part's link target" -- "${A[@]}" merge p0.json p1.json link-2.json --json real-2.json
# Numbers, cultures, overflow
SHOW="learning rate [0-9.]*" row "de_DE: --learning-rate 0.02" DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=0 LANG=de_DE.UTF-8 LC_ALL=de_DE.UTF-8 -- "${A[@]}" train --text t.txt --epochs 1 --units 2 --window 3 --learning-rate 0.02 --save y.json
SHOW="the last [0-9]* characters ([0-9.]*) held out" row "tr_TR: --validation 0.25" DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=0 LANG=tr_TR.UTF-8 LC_ALL=tr_TR.UTF-8 -- "${A[@]}" train --text t.txt --epochs 1 --units 2 --window 3 --validation 0.25 --save y.json
row "de_DE: --temperature 0,5" DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=0 LANG=de_DE.UTF-8 LC_ALL=de_DE.UTF-8 -- "${A[@]}" generate --model text.json --start "the" --steps 20 --temperature 0,5
row "--window 2147483647" -- "${A[@]}" train --text t.txt --window 2147483647 --save y.json
row "bench --text 2147483647x1x1x1" -- "${A[@]}" bench --experiments none --text 2147483647x1x1x1
row "bench --text 4000000x512x32x50, limit 64M" ALPHABET_LSTM_MAX_MEMORY=64M -- "${A[@]}" bench --experiments none --text 4000000x512x32x50
row "bench --text 100000000x4096x32x50" -- "${A[@]}" bench --experiments none --text 100000000x4096x32x50
# Stacked layers and the held-out pass
row "model: lstm.layers 65" -- "${A[@]}" predict --model layers65.json --inputs in.json
row "model: layers 3, upper holds 1" -- "${A[@]}" predict --model layers3.json --inputs in.json
row "model: version 2 with 2 layers" -- "${A[@]}" predict --model v2-layers.json --inputs in.json
row "model: upper weight 1e400" -- "${A[@]}" predict --model big-upper.json --inputs in.json
row "state: \"layers\" and h, c" -- "${A[@]}" predict --model two.json --inputs in.json --state both.json
row "state: 3 layers, model 2" -- "${A[@]}" predict --model two.json --inputs in.json --state three.json
row "predict --json over its --state" -- "${A[@]}" predict --model two.json --inputs in.json --state st.json --json st.json
row "generate: weights 1e308 (NaN)" -- "${A[@]}" generate --model nan-two.json --start the --steps 5
row "export: weight 1e300 (> float32)" -- "${A[@]}" export --model wide-two.json --onnx w.onnx
row "import: LSTM 2 has 8 units over 4" -- "${A[@]}" import --onnx units8.onnx --save x.json
row "import: LSTM 2 bidirectional" -- "${A[@]}" import --onnx bidi.onnx --save x.json
row "resume: checkpoint's layers edited" -- "${A[@]}" resume ck2 --quiet
row "train --layers 64 --units 1000" -- "${A[@]}" train --text t.txt --layers 64 --units 1000 --save x.json --quiet
row "train --layers 65" -- "${A[@]}" train --text t.txt --layers 65 --save x.json --quiet
row "--validation 1e-400" -- "${A[@]}" train --text t.txt --layers 2 --validation 1e-400 --save x.json --quiet
row "--validation 0.5000001" -- "${A[@]}" train --text t.txt --layers 2 --validation 0.5000001 --save x.json --quiet
row "de_DE: --validation 0,1" DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=0 LANG=de_DE.UTF-8 LC_ALL=de_DE.UTF-8 -- "${A[@]}" train --text t.txt --layers 2 --validation 0,1 --save x.json --quiet
# Precision
row "--precision float16" -- "${A[@]}" train --text t.txt --precision float16 --save x.json --quiet
row "de_DE: --precision Float32" DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=0 LANG=de_DE.UTF-8 LC_ALL=de_DE.UTF-8 -- "${A[@]}" experiment stateful --precision Float32 --no-report
row "float32 model: weight 1e39" -- "${A[@]}" predict --model f32-big.json --inputs in.json
row "float32 model: version 3" -- "${A[@]}" predict --model f32-v3.json --inputs in.json
row "model: precision float16" -- "${A[@]}" predict --model f32-half.json --inputs in.json
row "resume a float32 run --precision float64" -- "${A[@]}" resume ck --precision float64 --quiet
# Text to the terminal
row "ESC/OSC/BEL in a part's run name" -- "${A[@]}" merge esc.json
row "control characters in a command" -- "${A[@]}" $'\e[2Jx'
row "control characters in --model" -- "${A[@]}" predict --model $'\e]0;t\a.json' --inputs x.json
BYTES=12 row "newline in --start (output begins)" -- "${A[@]}" generate --model text.json --start $'th\ne' --steps 5
# Long output into a closed pipe
HEAD=10 row "generate 10^8 steps | head -c 10" -- "${A[@]}" generate --model text.json --start "the" --steps 100000000
