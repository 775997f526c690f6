"""Synthetic speech with phoneme-aligned mouth targets (espeak-ng through ctypes).

espeak-ng's library is initialised in AUDIO_OUTPUT_SYNCHRONOUS mode with phoneme events; the synth
callback receives the 22,050 Hz audio and, for every phoneme, an event whose `audio_position` (ms) says
where it starts. No acoustic analysis is involved.

Rule (phoneme -> viseme targets, held from one phoneme event to the next):
  jaw      opening angle (rad): open vowels (a, A, aI, aU, a#, 0, V) 0.30; mid vowels (E, e, eI, @, 3, O, o, oU,
           OI) 0.20; close vowels (i, I, u, U, i@, e@, U@) 0.12; consonants 0.06 (dentals/alveolars), 0.09
           (velars, h, r, l, j, w); p, b, m and pauses 0.
  round    lip pucker (expression 'lip_pucker'): u, U, o, oU, O, OI, w, U@, aU, r(slightly) 0.3-0.8.
  close    lip press (expression 'lip_press'): p, b, m 1.0; f, v 0.5 (lower lip to teeth).
  stretch  lip stretch (expression 'lip_stretch'): i, I, i@, e, eI 0.4; s, z, S, Z, tS, dZ 0.2.
The step targets are smoothed by a 60 ms (sigma 25 ms) Gaussian, sampled at 25 fps (frame k covers time k/25),
and the jaw is shifted 20 ms earlier (the mouth shapes lead the sound). Silence -> 0, so the mouth closes.
Audio is resampled to 16 kHz mono float32 in [-1, 1] (windowed-sinc, scipy-free: numpy polyphase via FFT).
"""

from __future__ import annotations

import ctypes
import math
import threading

import numpy as np

SR_ESPEAK = 22050
SR_OUT = 16000
FPS = 25

AUDIO_OUTPUT_SYNCHRONOUS = 2
INIT_PHONEME_EVENTS = 0x0001
EVENT_PHONEME, EVENT_END, EVENT_MSG_TERMINATED, EVENT_LIST_TERMINATED = 7, 5, 6, 0
ESPEAK_RATE, ESPEAK_PITCH, ESPEAK_RANGE = 1, 3, 4


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_lib = None
_lock = threading.Lock()
_state: dict = {}


def _load():
    global _lib
    if _lib is None:
        lib = ctypes.CDLL("libespeak-ng.so.1")
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        sr = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 200, None, INIT_PHONEME_EVENTS)
        if sr != SR_ESPEAK:
            raise RuntimeError(f"espeak_Initialize returned {sr}")

        def cb(wav, n, events):
            if n > 0 and wav:
                _state["audio"].append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            i = 0
            while events[i].type != EVENT_LIST_TERMINATED:
                e = events[i]
                if e.type == EVENT_PHONEME:
                    name = bytes(e.id.string).split(b"\0")[0].decode("utf-8", "replace")
                    _state["events"].append((e.audio_position, name))
                i += 1
            return 0

        lib._cb = _CB(cb)  # keep a reference so it is not collected
        lib.espeak_SetSynthCallback(lib._cb)
        _lib = lib
    return _lib


def synthesize(text: str, voice: str = "en-us", rate: int = 170, pitch: int = 50, pitch_range: int = 50):
    """Returns (audio int16 at 22,050 Hz, [(time_s, phoneme), ...])."""
    with _lock:
        lib = _load()
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"unknown espeak-ng voice {voice!r}")
        lib.espeak_SetParameter(ESPEAK_RATE, int(rate), 0)
        lib.espeak_SetParameter(ESPEAK_PITCH, int(pitch), 0)
        lib.espeak_SetParameter(ESPEAK_RANGE, int(pitch_range), 0)
        _state["audio"], _state["events"] = [], []
        buf = ctypes.create_string_buffer(text.encode("utf-8"))
        lib.espeak_Synth(buf, len(buf), 0, 1, 0, 0x1000, None, None)  # POS_CHARACTER, ENDPAUSE
        lib.espeak_Synchronize()
        audio = np.concatenate(_state["audio"]) if _state["audio"] else np.zeros(0, np.int16)
        events = [(ms / 1000.0, name) for ms, name in _state["events"]]
    return audio, events


_OPEN = {"a", "A", "aI", "aU", "a#", "0", "V", "A:", "a:", "A@"}
_MID = {"E", "e", "eI", "@", "3", "3:", "O", "o", "oU", "OI", "O:", "@L", "@2", "@5", "e@", "O@", "o@"}
_CLOSE = {"i", "I", "u", "U", "i@", "U@", "i:", "u:", "I2", "I#", "y"}
_ROUND = {"u": 0.8, "u:": 0.8, "U": 0.6, "o": 0.6, "oU": 0.6, "O": 0.5, "O:": 0.5, "OI": 0.5, "w": 0.8, "U@": 0.6,
          "aU": 0.4, "r": 0.2, "O@": 0.4, "o@": 0.4, "S": 0.3, "Z": 0.3, "tS": 0.3, "dZ": 0.3}
_STRETCH = {"i": 0.4, "i:": 0.4, "I": 0.3, "i@": 0.3, "e": 0.3, "eI": 0.4, "s": 0.2, "z": 0.2, "E": 0.2}
_CLOSE_LIPS = {"p": 1.0, "b": 1.0, "m": 1.0, "f": 0.5, "v": 0.5}
_WIDE_CONS = {"k", "g", "N", "h", "r", "l", "j", "w", "x", "l/", "r/", "R"}


def viseme(ph: str) -> tuple[float, float, float, float]:
    """(jaw, round, close, stretch) targets of one espeak phoneme mnemonic."""
    p = ph.strip("',%=:") or ph
    if ph in ("_", "", " ") or p.startswith("_"):
        return 0.0, 0.0, 0.0, 0.0
    base = ph.rstrip(";")
    if base in _CLOSE_LIPS:
        jaw = 0.0
    elif base in _OPEN or p in _OPEN:
        jaw = 0.30
    elif base in _MID or p in _MID:
        jaw = 0.20
    elif base in _CLOSE or p in _CLOSE:
        jaw = 0.12
    elif base in _WIDE_CONS:
        jaw = 0.09
    else:
        jaw = 0.06
    return jaw, _ROUND.get(base, 0.0), _CLOSE_LIPS.get(base, 0.0), _STRETCH.get(base, 0.0)


def mouth_tracks(events, duration_s: float, fps: int = FPS, lead_s: float = 0.02) -> np.ndarray:
    """Phoneme events -> float32 [frames, 4] (jaw, round, close, stretch) at `fps`."""
    dt = 0.005
    n = int(math.ceil(duration_s / dt))
    step = np.zeros((n, 4))
    ev = sorted(events)
    for i, (t, ph) in enumerate(ev):
        t1 = ev[i + 1][0] if i + 1 < len(ev) else duration_s
        a, b = int(t / dt), int(t1 / dt)
        step[a:b] = viseme(ph)
    k = np.arange(-12, 13) * dt
    g = np.exp(-0.5 * (k / 0.025) ** 2)
    g /= g.sum()
    sm = np.stack([np.convolve(step[:, j], g, mode="same") for j in range(4)], -1)
    nf = int(math.floor(duration_s * fps))
    tf = np.arange(nf) / fps + lead_s
    out = np.stack([np.interp(tf, np.arange(n) * dt, sm[:, j]) for j in range(4)], -1)
    return out.astype(np.float32)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling by FFT (zero-padded to avoid wrap-around)."""
    x = np.asarray(x, np.float64)
    n_out = int(round(len(x) * sr_out / sr_in))
    pad = 2048
    xp = np.concatenate([x, np.zeros(pad)])
    X = np.fft.rfft(xp)
    m = int(round(len(xp) * sr_out / sr_in))
    Y = np.zeros(m // 2 + 1, complex)
    k = min(len(X), len(Y))
    Y[:k] = X[:k]
    y = np.fft.irfft(Y, m) * (m / len(xp))
    return y[:n_out].astype(np.float32)


def utterance(text: str, voice: str, rate: int, pitch: int, pitch_range: int = 50):
    """Returns (audio float32 16 kHz mono, mouth tracks [frames, 4] at 25 fps, phoneme events)."""
    a, ev = synthesize(text, voice, rate, pitch, pitch_range)
    dur = len(a) / SR_ESPEAK
    audio = resample(a.astype(np.float32) / 32768.0, SR_ESPEAK, SR_OUT)
    return audio, mouth_tracks(ev, dur), ev


# Voices and words for text generation; the held-out sets are for audio tests only.
DIALECTS_TRAIN = ["en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029"]
DIALECTS_HELDOUT = ["en-gb-x-gbclan", "en-us-nyc"]
VARIANTS_TRAIN = ["m1", "m2", "m3", "m4", "m5", "m6", "f1", "f2", "f3", "f4", "klatt", "klatt2", "klatt3", "Andy",
                  "Annie", "anika", "belinda", "david", "ed", "linda", "max", "paul", "robert", "steph", "travis"]
VARIANTS_HELDOUT = ["m7", "f5", "klatt4", "benjamin", "edward", "shelby"]

WORDS = ("the a one two three four five six seven eight nine ten apple banana people morning evening water "
         "mother father brother sister table window garden market river mountain ocean summer winter paper "
         "music picture story number yellow purple orange blue green black white happy simple quickly "
         "slowly always never maybe really about after before under over between because while where "
         "when what who why how make take give bring open close speak listen watch wait move stop start "
         "think believe remember forget travel arrive leave follow build break carry clean cook drink "
         "eat fly grow hold keep learn meet pay read ride run sing sit sleep stand swim teach tell walk "
         "write small large bright quiet loud warm cold early late easy hard new old young strong").split()
WORDS_HELDOUT = ("village harbour lantern whisper marble velvet thunder pebble meadow compass blanket "
                 "feather puzzle silver tunnel wagon candle ladder mirror rocket saddle violin wizard "
                 "zebra bubble cactus dolphin glacier hammock igloo jigsaw kettle lemonade").split()


def random_text(rng: np.random.Generator, heldout: bool = False) -> str:
    words = WORDS_HELDOUT + WORDS[:40] if heldout else WORDS
    n = int(rng.integers(5, 14))
    sent = [words[int(rng.integers(len(words)))] for _ in range(n)]
    if rng.uniform() < 0.4:
        cut = int(rng.integers(2, n - 1))
        sent[cut] += ","  # a comma gives a pause with the mouth closed
    return " ".join(sent).capitalize() + rng.choice([".", "?", "!"])


def random_voice(rng: np.random.Generator, heldout: bool = False):
    d = DIALECTS_HELDOUT if heldout else DIALECTS_TRAIN
    v = VARIANTS_HELDOUT if heldout else VARIANTS_TRAIN
    voice = f"{d[int(rng.integers(len(d)))]}+{v[int(rng.integers(len(v)))]}"
    return voice, int(rng.integers(120, 230)), int(rng.integers(20, 80)), int(rng.integers(20, 80))
