package recording

import (
	"bufio"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-audio/wav"

	"github.com/voicegw/voicegw/internal/testenv"
)

// TestOneHourCall simulates a one-hour two-party call (no real time
// passes): 180,000 packets of 20 ms per party, the callee starting 1.50375 s
// after the caller (not on a packet boundary), 1% of packets lost (half of
// them reported as gaps, as media does, half simply missing), 1% delivered
// one packet late, 0.5% duplicated, and a one-minute pause at 30:00. Every
// packet carries its own number, so the file is checked frame by frame:
// each frame holds exactly the packet that belongs at its time, or silence
// where a packet was lost or the call paused — no drift at all, let alone
// beyond one packet.
func TestOneHourCall(t *testing.T) {
	testenv.Short(t, "writes a one-hour (115 MB) WAV")
	const (
		pkt        = 160
		slots      = 180000 // 20 ms wall-clock slots in an hour
		bOffset    = 12030  // 1.50375 s
		pauseFrom  = 1800 * rate8k
		pauseUntil = 1860 * rate8k
	)
	nB := int64((slots*pkt - bOffset) / pkt) // the callee's packets up to 1:00:00
	valA := func(k int64) int16 { return int16(k%30000 + 1) }
	valB := func(k int64) int16 { return -int16(k%30000 + 1) }

	rng := rand.New(rand.NewPCG(1, 2))
	type fate uint8
	const (
		delivered  fate = iota
		lostGap         // lost, media reports a gap
		lostSilent      // lost, nothing reported
		late            // delivered one slot late
		dup             // delivered, and again three slots later
	)
	fates := [2][]fate{make([]fate, slots), make([]fate, nB)}
	for s := range fates {
		for k := range fates[s] {
			switch x := rng.IntN(1000); {
			case x < 5:
				fates[s][k] = lostGap
			case x < 10:
				fates[s][k] = lostSilent
			case x < 20:
				fates[s][k] = late
			case x < 25:
				fates[s][k] = dup
			}
		}
	}

	r, path := newTestRecorder(t, Config{Streams: twoStreams()})
	must(t, r.Stream(0).Start(t0))
	pcm := make([]int16, pkt)
	fill := func(v int16) []int16 {
		for i := range pcm {
			pcm[i] = v
		}
		return pcm
	}
	// What each slot delivers, per stream.
	type delivery struct{ k, at int64 }
	var pending [2][]delivery // late and duplicate packets, with their slot
	deliver := func(s int, k int64) {
		st := r.Stream(s)
		v := valA(k)
		if s == 1 {
			v = valB(k)
		}
		must(t, st.Write(k*pkt, fill(v)))
	}
	for slot := int64(0); slot < slots; slot++ {
		if slot == pauseFrom/pkt {
			must(t, r.Pause(t0.Add(30*time.Minute)))
		}
		if slot == pauseUntil/pkt {
			must(t, r.Resume(t0.Add(31*time.Minute)))
		}
		for s := 0; s < 2; s++ {
			k := slot
			if s == 1 {
				// The callee's packet k is sent at 1.50375 s + 20 ms × k.
				k = (slot*pkt - bOffset) / pkt
				if slot*pkt < bOffset {
					continue
				}
				if k == 0 && (slot-1)*pkt < bOffset {
					must(t, r.Stream(1).Start(t0.Add(1503750*time.Microsecond)))
				}
			}
			if k >= int64(len(fates[s])) {
				continue
			}
			// Earlier packets due now.
			rest := pending[s][:0]
			for _, d := range pending[s] {
				if d.at == slot {
					deliver(s, d.k)
				} else {
					rest = append(rest, d)
				}
			}
			pending[s] = rest
			switch fates[s][k] {
			case delivered:
				deliver(s, k)
			case lostGap:
				must(t, r.Stream(s).Gap(k*pkt, pkt))
			case lostSilent:
			case late:
				pending[s] = append(pending[s], delivery{k, slot + 1})
			case dup:
				deliver(s, k)
				pending[s] = append(pending[s], delivery{k, slot + 3})
			}
		}
	}
	for s := range pending {
		for _, d := range pending[s] {
			deliver(s, d.k)
		}
	}
	res, err := r.Stop()
	must(t, err)
	if res.Duration != time.Hour || res.Paused != time.Minute {
		t.Fatalf("Result: %v long, %v paused; want 1h, 1m", res.Duration, res.Paused)
	}

	// go-audio/wav and sox agree on the length.
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	d := wav.NewDecoder(f)
	must(t, d.FwdToPCM())
	if d.NumChans != 2 || d.SampleRate != 8000 || d.PCMLen() != 4*slots*pkt {
		t.Fatalf("go-audio/wav: %d channels, %d Hz, %d data bytes; want 2, 8000, %d", d.NumChans, d.SampleRate, d.PCMLen(), 4*slots*pkt)
	}
	if out, err := exec.Command(requireSox(t), "--i", "-D", path).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "3600.000000" {
		t.Errorf("sox --i -D: %q, %v; want 3600.000000", out, err)
	}

	// Frame by frame.
	expect := func(s int, p int64) int16 {
		if p >= pauseFrom && p < pauseUntil {
			return 0
		}
		if s == 1 {
			p -= bOffset
			if p < 0 {
				return 0
			}
		}
		k := p / pkt
		if k >= int64(len(fates[s])) {
			return 0
		}
		switch fates[s][k] {
		case lostGap, lostSilent:
			return 0
		}
		if s == 0 {
			return valA(k)
		}
		return valB(k)
	}
	br := bufio.NewReaderSize(io.NewSectionReader(f, wavHeaderSize, d.PCMLen()), 1<<16)
	var fr [4]byte
	for p := int64(0); p < slots*pkt; p++ {
		if _, err := io.ReadFull(br, fr[:]); err != nil {
			t.Fatalf("reading frame %d: %v", p, err)
		}
		l, rr := int16(binary.LittleEndian.Uint16(fr[:])), int16(binary.LittleEndian.Uint16(fr[2:]))
		if wl, wr := expect(0, p), expect(1, p); l != wl || rr != wr {
			t.Fatalf("frame %d (%v): got caller %d callee %d, want %d %d",
				p, framesToDuration(p, rate8k), l, rr, wl, wr)
		}
	}
}
