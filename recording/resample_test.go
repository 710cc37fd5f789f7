package recording

import (
	"math"
	"testing"
)

// upsample runs in through an upsampler in packets of pkt frames.
func upsample(in []int16, channels, pkt int) []int16 {
	u := newUpsampler2(channels, chunkFrames)
	buf := make([]int16, 2*(chunkFrames+hbTaps)*channels)
	var out []int16
	for i := 0; i < len(in); i += pkt * channels {
		n := u.process(in[i:min(i+pkt*channels, len(in))], buf)
		out = append(out, buf[:n]...)
	}
	n := u.flush(buf)
	return append(out, buf[:n]...)
}

// TestUpsampler: exactly twice the samples, no delay (even samples are the
// input), a flat pass band over the telephone band, and the images that
// 2× upsampling creates held far down.
func TestUpsampler(t *testing.T) {
	for _, tc := range []struct {
		freq     float64
		imageMax float64 // dB below the tone
	}{
		{300, -60}, {1000, -60}, {2000, -60}, {3000, -60}, {3400, -60},
	} {
		in := tone(tc.freq, 16000, 8000, 0, 8000)
		for _, pkt := range []int{160, 37, 256} {
			out := upsample(in, 1, pkt)
			if len(out) != 2*len(in) {
				t.Fatalf("%d samples in, %d out", len(in), len(out))
			}
			for i := 0; i < len(in); i++ {
				if out[2*i] != in[i] {
					t.Fatalf("%.0f Hz: output sample %d is %d, input %d: the filter must keep input samples", tc.freq, 2*i, out[2*i], in[i])
				}
			}
			body := out[2000 : len(out)-2000] // away from the edges
			gain := level(body, 16000, tc.freq) / 16000
			image := level(body, 16000, 8000-tc.freq) / 16000
			if db := 20 * math.Log10(gain); math.Abs(db) > 0.02 {
				t.Errorf("%.0f Hz (packets of %d): gain %.3f dB, want within 0.02 dB", tc.freq, pkt, db)
			}
			if db := 20 * math.Log10(image/gain); db > tc.imageMax {
				t.Errorf("%.0f Hz: image at %.0f Hz is %.1f dB, want below %.0f dB", tc.freq, 8000-tc.freq, db, tc.imageMax)
			}
		}
	}
	// Stereo: the channels stay apart.
	st := make([]int16, 2*4000)
	l, r := tone(1000, 10000, 8000, 0, 4000), tone(600, 10000, 8000, 0, 4000)
	for i := range l {
		st[2*i], st[2*i+1] = l[i], r[i]
	}
	out := upsample(st, 2, 160)
	var ol, or []int16
	for i := 0; i+1 < len(out); i += 2 {
		ol, or = append(ol, out[i]), append(or, out[i+1])
	}
	if len(ol) != 8000 || level(ol[500:7500], 16000, 600) > 1 || level(or[500:7500], 16000, 1000) > 1 {
		t.Errorf("stereo upsampling mixes channels")
	}
	// Full scale saturates instead of wrapping.
	sq := make([]int16, 400)
	for i := range sq {
		sq[i] = 32767
		if i/20%2 == 1 {
			sq[i] = -32768
		}
	}
	for i, v := range upsample(sq, 1, 160) {
		if i > 0 && i < 799 && i%40 > 2 && i%40 < 38 && (v > 0) != (sq[i/2] > 0) {
			t.Fatalf("square wave sample %d = %d: wrapped around", i, v)
		}
	}
}
