#!/usr/bin/env bash
# Build samples/sample_es.mp4 (and samples/sample_es.txt), the bundled Spanish
# demo clip for `dub`: real Spanish speech over real music, with a generated
# test-pattern picture.
#
# Sources (Debian packages, see samples/CREDITS.md for authors and licences):
#   * asterisk-core-sounds-es-wav  - Spanish (es_MX) studio prompts, one voice
#                                    (Allison Smith), 8 kHz mono 16-bit WAV
#   * asterisk-moh-opsound-wav     - music on hold, 8 kHz mono 16-bit WAV
#   * ffmpeg (lavfi testsrc2)      - generated test-pattern picture
#
# Install the inputs with:
#   apt-get install asterisk-core-sounds-es-wav asterisk-moh-opsound-wav sox ffmpeg
#
# Result: about 35 s, 320x240 25 fps H.264 + mono AAC 96 kbps, well under 3 MB.
# The script is deterministic (fixed inputs, offsets, gaps and gains; sox runs
# in repeatable mode without dither; ffmpeg runs bit-exact with one encoder
# thread) and can be re-run at any time; outputs are written to temporary
# files and moved into place at the end.
#
# Usage: samples/make_sample.sh
#   Environment overrides: ES_SOUNDS_DIR, MOH_DIR (source directories).
set -euo pipefail

export LC_ALL=C

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT_MP4="$SCRIPT_DIR/sample_es.mp4"
OUT_TXT="$SCRIPT_DIR/sample_es.txt"

ES_SOUNDS_DIR="${ES_SOUNDS_DIR:-/usr/share/asterisk/sounds/es_MX_f_Allison}"
if [[ ! -d "$ES_SOUNDS_DIR" ]]; then
    # Older/other layouts: /usr/share/asterisk/sounds/es (an alternatives link).
    ES_SOUNDS_DIR=/usr/share/asterisk/sounds/es
fi
MOH_DIR="${MOH_DIR:-/usr/share/asterisk/moh}"

# --------------------------------------------------------------------------
# Spoken prompts, in order: "<file relative to ES_SOUNDS_DIR>|<Spanish text>".
# Texts follow the package transcript (asterisk-core-sounds-es,
# core-sounds-es.txt), written here with standard Spanish accents; each was
# also checked against an automatic transcription of the audio.
#   followme/no-recording        2.46 s  "Usted tiene una llamada entrante"
#   followme/pls-hold-while-try  3.97 s  "Por favor espere mientras intento enlazar su llamada"
#   followme/sorry               4.81 s  "Lo siento pero no logre encontrar a la persona que usted busca"
#   vm-nobodyavail               5.43 s  "En este momento nadie esta libre para responder a su llamada"
#   tt-somethingwrong            2.40 s  "Algo esta terriblemente mal."
#   tt-weasels                   4.59 s  "Las comadrejas se han comido nuestro sistema telefonico."
#   queue-thankyou               2.39 s  "Muchas gracias por su paciencia."
# The prompt files are already tightly edited (about 50 ms of silence at each
# end), so they are used whole and the file boundaries are the segment times.
# --------------------------------------------------------------------------
PROMPTS=(
    "followme/no-recording|Usted tiene una llamada entrante."
    "followme/pls-hold-while-try|Por favor, espere mientras intento enlazar su llamada."
    "followme/sorry|Lo siento, pero no logré encontrar a la persona que usted busca."
    "vm-nobodyavail|En este momento nadie está libre para responder a su llamada."
    "tt-somethingwrong|Algo está terriblemente mal."
    "tt-weasels|Las comadrejas se han comido nuestro sistema telefónico."
    "queue-thankyou|Muchas gracias por su paciencia."
)
# Silence between consecutive prompts (seconds); one fewer than PROMPTS.
GAPS=(0.8 1.2 0.9 1.4 0.7 1.1)
LEAD_S=1.0        # music only before the first prompt
MIN_TAIL_S=1.5    # at least this much music after the last prompt

# Music bed: one track, starting MUSIC_OFFSET_S seconds in (skips the quiet
# intro; the level is steady from there on).
MUSIC_FILE="manolo_camp-morning_coffee.wav"
MUSIC_OFFSET_S=12
MUSIC_BELOW_SPEECH_DB=11   # music RMS this many dB below the speech RMS
SPEECH_PEAK_DB=-3          # speech peak-normalised to this level (dBFS)

RATE=48000        # output sample rate (Hz), mono
FPS=25
# Total length is rounded up to a multiple of 15360 samples (0.32 s): a whole
# number of video frames (1920 samples each) and of AAC frames (1024 samples),
# so the video and audio streams have exactly the same duration.
ALIGN=15360

# --------------------------------------------------------------------------
die() { echo "make_sample.sh: $*" >&2; exit 1; }

for tool in sox soxi ffmpeg ffprobe awk; do
    command -v "$tool" >/dev/null 2>&1 || die "missing tool: $tool"
done
[[ ${#GAPS[@]} -eq $(( ${#PROMPTS[@]} - 1 )) ]] || die "GAPS must have one entry fewer than PROMPTS"
[[ -f "$MOH_DIR/$MUSIC_FILE" ]] || die "missing $MOH_DIR/$MUSIC_FILE (apt-get install asterisk-moh-opsound-wav)"
for entry in "${PROMPTS[@]}"; do
    f="$ES_SOUNDS_DIR/${entry%%|*}.wav"
    [[ -f "$f" ]] || die "missing $f (apt-get install asterisk-core-sounds-es-wav)"
done

TMP="$(mktemp -d "${TMPDIR:-/tmp}/make_sample.XXXXXX")"
PART_MP4="$OUT_MP4.part.$$"
PART_TXT="$OUT_TXT.part.$$"
cleanup() { rm -rf "$TMP"; rm -f "$PART_MP4" "$PART_TXT"; }
trap cleanup EXIT

# sox: -R repeatable, -D no dither; intermediates are 32-bit float mono WAV.
SOX=(sox -R -D -V1)
FMT=(-e floating-point -b 32 -c 1 -r "$RATE")

secs_to_samples() { awk -v s="$1" -v r="$RATE" 'BEGIN { printf "%d", s * r + 0.5 }'; }
samples_to_secs() { awk -v n="$1" -v r="$RATE" 'BEGIN { printf "%.3f", n / r }'; }
silence() { "${SOX[@]}" -n "${FMT[@]}" "$2" trim 0 "${1}s"; }   # $1 samples, $2 file
rms_db() { sox -V1 "$1" -n stats 2>&1 | awk '/^RMS lev dB/ { print $4 }'; }
peak_db() { sox -V1 "$1" -n stats 2>&1 | awk '/^Pk lev dB/ { print $4 }'; }

# 1. Resample each prompt to RATE mono; lay out the speech track with gaps,
#    recording the start/end sample of every prompt.
pieces=()
prompt_only=()
pos=$(secs_to_samples "$LEAD_S")
silence "$pos" "$TMP/lead.wav"
pieces+=("$TMP/lead.wav")
: > "$TMP/times.tsv"
for i in "${!PROMPTS[@]}"; do
    entry="${PROMPTS[$i]}"
    src="$ES_SOUNDS_DIR/${entry%%|*}.wav"
    text="${entry#*|}"
    p="$TMP/prompt_$i.wav"
    "${SOX[@]}" "$src" "${FMT[@]}" "$p" rate -v "$RATE"
    n=$(soxi -s "$p")
    printf '%d\t%d\t%s\n' "$pos" "$((pos + n))" "$text" >> "$TMP/times.tsv"
    pieces+=("$p")
    prompt_only+=("$p")
    pos=$((pos + n))
    if (( i < ${#GAPS[@]} )); then
        g=$(secs_to_samples "${GAPS[$i]}")
        silence "$g" "$TMP/gap_$i.wav"
        pieces+=("$TMP/gap_$i.wav")
        pos=$((pos + g))
    fi
done
min_total=$((pos + $(secs_to_samples "$MIN_TAIL_S")))
total=$(( (min_total + ALIGN - 1) / ALIGN * ALIGN ))
silence "$((total - pos))" "$TMP/tail.wav"
pieces+=("$TMP/tail.wav")

# Speech track, peak-normalised.
"${SOX[@]}" "${pieces[@]}" "$TMP/speech_raw.wav"
speech_gain=$(awk -v t="$SPEECH_PEAK_DB" -v p="$(peak_db "$TMP/speech_raw.wav")" 'BEGIN { printf "%.2f", t - p }')
"${SOX[@]}" "$TMP/speech_raw.wav" "$TMP/speech.wav" vol "${speech_gain}dB"
# Speech RMS is measured over the prompts only (not the gaps).
"${SOX[@]}" "${prompt_only[@]}" "$TMP/prompts_raw.wav"
"${SOX[@]}" "$TMP/prompts_raw.wav" "$TMP/prompts.wav" vol "${speech_gain}dB"
speech_rms=$(rms_db "$TMP/prompts.wav")

# 2. Music bed: cut, resample, short fade-in, fade-out over the tail, then set
#    its RMS MUSIC_BELOW_SPEECH_DB below the speech RMS.
total_s=$(samples_to_secs "$total")
"${SOX[@]}" "$MOH_DIR/$MUSIC_FILE" "${FMT[@]}" "$TMP/music_raw.wav" \
    trim "$MUSIC_OFFSET_S" "$total_s" rate -v "$RATE" trim 0 "${total}s" \
    fade t 0.3 "$total_s" "$MIN_TAIL_S"
music_gain=$(awk -v s="$speech_rms" -v m="$(rms_db "$TMP/music_raw.wav")" -v d="$MUSIC_BELOW_SPEECH_DB" \
    'BEGIN { printf "%.2f", s - d - m }')
"${SOX[@]}" "$TMP/music_raw.wav" "$TMP/music.wav" vol "${music_gain}dB"

# 3. Mix (unity gain for both inputs; no automatic 1/n scaling).
"${SOX[@]}" -m -v 1 "$TMP/speech.wav" -v 1 "$TMP/music.wav" "$TMP/mix.wav"
[[ $(soxi -s "$TMP/mix.wav") -eq $total ]] || die "mix length mismatch"
mix_peak=$(peak_db "$TMP/mix.wav")
awk -v p="$mix_peak" 'BEGIN { exit !(p < 0) }' || die "mix clips (peak ${mix_peak} dBFS)"

# Report levels (ffmpeg volumedetect mean_volume = RMS in dBFS).
meanvol() {
    ffmpeg -hide_banner -nostats -i "$1" -af volumedetect -f null - 2>&1 \
        | awk '/mean_volume/ { print $(NF-1) }'
}
sp=$(meanvol "$TMP/prompts.wav")
mu=$(meanvol "$TMP/music.wav")
echo "speech RMS (prompts only): ${sp} dBFS; music bed RMS: ${mu} dBFS;" \
     "speech-to-music ratio: $(awk -v a="$sp" -v b="$mu" 'BEGIN { printf "%.1f", a - b }') dB;" \
     "mix peak: ${mix_peak} dBFS" >&2

# 4. Picture + encode. -t and the aligned length keep both streams equal.
ffmpeg -hide_banner -nostdin -loglevel error -y \
    -f lavfi -i "testsrc2=size=320x240:rate=${FPS}" \
    -i "$TMP/mix.wav" \
    -map 0:v:0 -map 1:a:0 -t "$total_s" -shortest \
    -map_metadata -1 -fflags +bitexact \
    -c:v libx264 -preset medium -crf 30 -pix_fmt yuv420p -threads 1 -flags:v +bitexact \
    -c:a aac -b:a 96k -ac 1 -ar "$RATE" -flags:a +bitexact \
    -metadata title="dub demo sample (Spanish)" \
    -metadata comment="CC-BY-SA-3.0; sources and credits in samples/CREDITS.md" \
    -movflags +faststart -f mp4 "$PART_MP4"

# 5. Transcript with segment times in the mix (seconds, tab separated).
awk -F '\t' -v r="$RATE" '{ printf "%.3f\t%.3f\t%s\n", $1 / r, $2 / r, $3 }' \
    "$TMP/times.tsv" > "$PART_TXT"

mv -f "$PART_MP4" "$OUT_MP4"
mv -f "$PART_TXT" "$OUT_TXT"
echo "wrote $OUT_MP4 ($(stat -c %s "$OUT_MP4") bytes, ${total_s} s) and $OUT_TXT" >&2
