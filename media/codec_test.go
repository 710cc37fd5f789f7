package media

import "testing"

// TestG711ReferenceValues: the decoders give the values of the reference
// G.711 implementation (ITU-T G.711; Sun's g711.c ulaw2linear/alaw2linear,
// worked out by hand here, not taken from this package), and the encoders
// map silence and full scale to the reference codes.
func TestG711ReferenceValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		enc  Encoding
		code byte
		want int16
	}{
		{"μ-law 0x00, most negative", EncodingPCMU, 0x00, -32124},
		{"μ-law 0x80, most positive", EncodingPCMU, 0x80, 32124},
		{"μ-law 0xFF, +0", EncodingPCMU, 0xFF, 0},
		{"μ-law 0x7F, -0", EncodingPCMU, 0x7F, 0},
		{"μ-law 0xFE, smallest positive", EncodingPCMU, 0xFE, 8},
		{"μ-law 0x7E, smallest negative", EncodingPCMU, 0x7E, -8},
		{"A-law 0xD5, smallest positive", EncodingPCMA, 0xD5, 8},
		{"A-law 0x55, smallest negative", EncodingPCMA, 0x55, -8},
		{"A-law 0xAA, most positive", EncodingPCMA, 0xAA, 32256},
		{"A-law 0x2A, most negative", EncodingPCMA, 0x2A, -32256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := []int16{12345}
			decodeG711 := DecodePCMU
			if tc.enc == EncodingPCMA {
				decodeG711 = DecodePCMA
			}
			if n := decodeG711(dst, []byte{tc.code}); n != 1 || dst[0] != tc.want {
				t.Fatalf("decode %#02x = %d (n=%d), want %d", tc.code, dst[0], n, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		encode func([]byte, []int16) int
		pcm    int16
		want   byte
	}{
		{"μ-law silence", EncodePCMU, 0, 0xFF},
		{"μ-law full scale", EncodePCMU, 32767, 0x80},
		{"μ-law negative full scale", EncodePCMU, -32768, 0x00},
		{"A-law silence", EncodePCMA, 0, 0xD5},
		{"A-law full scale", EncodePCMA, 32767, 0xAA},
		{"A-law negative full scale", EncodePCMA, -32768, 0x2A},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte{0x11}
			if n := tc.encode(dst, []int16{tc.pcm}); n != 1 || dst[0] != tc.want {
				t.Fatalf("encode %d = %#02x (n=%d), want %#02x", tc.pcm, dst[0], n, tc.want)
			}
		})
	}
}

// TestG711RoundTrip: every code decodes to a value that encodes back to the
// same code (μ-law's -0, 0x7F, comes back as +0, 0xFF), and the functions
// convert min(len(dst), len(src)) samples.
func TestG711RoundTrip(t *testing.T) {
	codes := make([]byte, 256)
	for i := range codes {
		codes[i] = byte(i)
	}
	for _, tc := range []struct {
		name   string
		decode func([]int16, []byte) int
		encode func([]byte, []int16) int
	}{
		{"μ-law", DecodePCMU, EncodePCMU},
		{"A-law", DecodePCMA, EncodePCMA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pcm := make([]int16, 256)
			back := make([]byte, 256)
			if n := tc.decode(pcm, codes); n != 256 {
				t.Fatalf("decoded %d", n)
			}
			if n := tc.encode(back, pcm); n != 256 {
				t.Fatalf("encoded %d", n)
			}
			for i := range codes {
				want := codes[i]
				if tc.name == "μ-law" && want == 0x7F {
					want = 0xFF
				}
				if back[i] != want {
					t.Errorf("%#02x → %d → %#02x", codes[i], pcm[i], back[i])
				}
			}
			short := make([]int16, 10)
			if n := tc.decode(short, codes); n != 10 {
				t.Errorf("decode into 10 samples = %d", n)
			}
			if n := tc.decode(pcm, codes[:7]); n != 7 {
				t.Errorf("decode of 7 bytes = %d", n)
			}
			if n := tc.encode(back[:3], pcm); n != 3 {
				t.Errorf("encode into 3 bytes = %d", n)
			}
		})
	}
}
