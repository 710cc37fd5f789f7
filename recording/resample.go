package recording

// upsampler2 doubles the sample rate of interleaved PCM16 (8 kHz → 16 kHz
// for an MP3 whose MP3Config.SampleRate asks for twice the streams' rate,
// so that the file is MPEG-2 rather than the MPEG-2.5 that
// hajimehoshi/go-mp3 cannot decode).
//
// It is a half-band interpolator: even output samples are the input samples
// themselves, odd ones a 24-tap symmetric FIR (a Kaiser-windowed sinc,
// β = 6, in 24-bit fixed point) over the 12 input samples on each side. Over the telephone band
// (up to 3.4 kHz) the images that 2× upsampling creates stay below −60 dB
// and the pass band is flat within 0.01 dB; that costs 12 multiply-adds
// per output sample, a small fraction of what LAME spends on the same
// sample. The filter looks 12 input samples ahead; flush pushes zeros
// through it, so the output has exactly twice the samples of the input and
// no delay.
type upsampler2 struct {
	channels int
	// x holds, per channel, the K-1 samples before the next centre followed
	// by the pending samples (centre and look-ahead) not yet output.
	x    [][]int32
	pend int // pending samples per channel (same for every channel)
}

// hbTaps is K: the half-length of the interpolation filter.
const hbTaps = 12

// Half-band coefficients c_k for the taps at ±(k+½) input samples, summing
// to ½ on each side (unity gain at DC), in fixed point with hbShift
// fractional bits (integer arithmetic is faster than float here, and the
// rounding of the coefficients is 100 dB down).
const (
	hbShift = 24
	hb0     = 10641024 // 0.63425441419994255
	hb1     = -3424458 // -0.20411358094767471
	hb2     = 1913961  // 0.11408098795132006
	hb3     = -1227135 // -0.073142939315918601
	hb4     = 823794   // 0.049101954410076191
	hb5     = -557647  // -0.033238344312633325
	hb6     = 372504   // 0.02220298928814483
	hb7     = -241556  // -0.014397850822685384
	hb8     = 149614   // 0.0089176746619666868
	hb9     = -86717   // -0.0051687285935457248
	hb10    = 45545    // 0.0027146637954289705
	hb11    = -20321   // -0.0012112403144214411
)

// newUpsampler2 returns an upsampler for the given channel count that
// accepts up to maxFrames frames per call.
func newUpsampler2(channels, maxFrames int) *upsampler2 {
	u := &upsampler2{channels: channels, x: make([][]int32, channels)}
	for c := range u.x {
		// K-1 history + K pending look-ahead + maxFrames new, with room for
		// the K zeros of the final flush.
		u.x[c] = make([]int32, hbTaps-1, 2*hbTaps+maxFrames+hbTaps)
	}
	return u
}

// process upsamples the interleaved frames of in into out (which needs room
// for 2*len(in) samples) and returns the samples written. The output lags
// the input by hbTaps frames until flush.
func (u *upsampler2) process(in []int16, out []int16) int {
	ch := u.channels
	n := len(in) / ch
	for c := 0; c < ch; c++ {
		x := u.x[c]
		k := len(x)
		x = x[:k+n]
		for i := 0; i < n; i++ {
			x[k+i] = int32(in[i*ch+c])
		}
		u.x[c] = x
	}
	u.pend += n
	return u.emit(out)
}

// flush pushes hbTaps zeros through the filter and returns the remaining
// output samples written to out (2*hbTaps*channels at most).
func (u *upsampler2) flush(out []int16) int {
	for c := range u.x {
		for range hbTaps {
			u.x[c] = append(u.x[c], 0)
		}
	}
	u.pend += hbTaps
	w := u.emit(out)
	u.pend = 0
	for c := range u.x {
		u.x[c] = u.x[c][:hbTaps-1]
		clear(u.x[c])
	}
	return w
}

// emit outputs every centre that has its K look-ahead samples, then keeps
// the K-1 samples of history and the pending look-ahead at the front of x.
func (u *upsampler2) emit(out []int16) int {
	ch := u.channels
	ready := u.pend - hbTaps // centres that have their look-ahead
	if ready <= 0 {
		return 0
	}
	out = out[:2*ready*ch]
	for c := 0; c < ch; c++ {
		x := u.x[c]
		o := c
		for i := 0; i < ready; i++ {
			w := x[i : i+2*hbTaps : i+2*hbTaps] // the 24 taps around centre i+K-1; one bounds check
			odd := hb0*int64(w[11]+w[12]) + hb1*int64(w[10]+w[13]) + hb2*int64(w[9]+w[14]) +
				hb3*int64(w[8]+w[15]) + hb4*int64(w[7]+w[16]) + hb5*int64(w[6]+w[17]) +
				hb6*int64(w[5]+w[18]) + hb7*int64(w[4]+w[19]) + hb8*int64(w[3]+w[20]) +
				hb9*int64(w[2]+w[21]) + hb10*int64(w[1]+w[22]) + hb11*int64(w[0]+w[23])
			out[o] = int16(w[11])
			out[o+ch] = sat16(int32((odd + 1<<(hbShift-1)) >> hbShift))
			o += 2 * ch
		}
		// Keep the history of the next centre and the pending samples.
		keep := copy(x, x[ready:])
		u.x[c] = x[:keep]
	}
	u.pend -= ready
	return 2 * ready * ch
}
