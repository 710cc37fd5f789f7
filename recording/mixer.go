package recording

import "math"

// mixer turns the streams' rings into the interleaved frames of one file:
// route[c] lists the streams mixed into channel c. Its frame buffer is made
// once, so mixing does not allocate.
type mixer struct {
	channels int
	route    [][]int
	frames   []int16 // chunkFrames × channels
	// pair: two channels of one stream each (the usual two-party call),
	// streams left and right; kept here so that mixing a packet's frames
	// does not read route's slices, each an allocation of its own.
	pair        bool
	left, right int
}

func newMixer(route [][]int) mixer {
	m := mixer{channels: len(route), route: route, frames: make([]int16, chunkFrames*len(route))}
	if len(route) == 2 && len(route[0]) == 1 && len(route[1]) == 1 {
		m.pair, m.left, m.right = true, route[0][0], route[1][0]
	}
	return m
}

// routes decides the channels of the recording's file and which streams
// feed each (see Layout). Separate streams have files of their own.
func routes(cfg Config) [][]int {
	main := mainStreams(cfg.Streams)
	layout := cfg.Layout
	if layout == LayoutAuto {
		layout = LayoutStereo
		if len(main) == 1 {
			layout = LayoutMono
		}
	}
	switch layout {
	case LayoutMono:
		return [][]int{main}
	case LayoutPerStream:
		route := make([][]int, len(main))
		for c, i := range main {
			route[c] = []int{i}
		}
		return route
	}
	route := [][]int{nil, nil}
	for k, i := range main {
		ch := cfg.Streams[i].Channel
		if ch == ChannelAuto {
			switch k {
			case 0:
				ch = ChannelLeft
			case 1:
				ch = ChannelRight
			default:
				ch = ChannelBoth
			}
		}
		if ch == ChannelLeft || ch == ChannelBoth {
			route[0] = append(route[0], i)
		}
		if ch == ChannelRight || ch == ChannelBoth {
			route[1] = append(route[1], i)
		}
	}
	return route
}

// mix fills the first n frames of m.frames from the rings at ri and
// returns them.
func (m *mixer) mix(streams []*Stream, ri, n int64) []int16 {
	frames := m.frames[:n*int64(m.channels)]
	m.mixTo(frames, streams, ri, n)
	return frames
}

// mixTo fills frames (n frames) from the rings at ri.
func (m *mixer) mixTo(frames []int16, streams []*Stream, ri, n int64) {
	ch := m.channels
	if m.pair {
		// One stream per channel, the usual two-party call: interleave.
		a := streams[m.left].ring[ri : ri+n]
		b := streams[m.right].ring[ri : ri+n]
		b = b[:len(a)]
		for i, v := range a {
			f := frames[2*i : 2*i+2 : 2*i+2]
			f[0], f[1] = v, b[i]
		}
		return
	}
	for c := 0; c < ch; c++ {
		route := m.route[c]
		switch len(route) {
		case 0:
			for i := int64(0); i < n; i++ {
				frames[int(i)*ch+c] = 0
			}
		case 1:
			src := streams[route[0]].ring[ri : ri+n]
			if ch == 1 {
				copy(frames, src)
				continue
			}
			for i, v := range src {
				frames[i*ch+c] = v
			}
		case 2:
			a := streams[route[0]].ring[ri : ri+n]
			b := streams[route[1]].ring[ri : ri+n]
			for i := range a {
				frames[i*ch+c] = sat16(int32(a[i]) + int32(b[i]))
			}
		default:
			for i := int64(0); i < n; i++ {
				var sum int32
				for _, si := range route {
					sum += int32(streams[si].ring[ri+i])
				}
				frames[int(i)*ch+c] = sat16(sum)
			}
		}
	}
}

// silence returns the first n frames of m.frames, cleared.
func (m *mixer) silence(n int64) []int16 {
	frames := m.frames[:n*int64(m.channels)]
	clear(frames)
	return frames
}

// sat16 clips a sum of samples to the int16 range instead of letting it
// wrap around.
func sat16(v int32) int16 {
	if v > math.MaxInt16 {
		return math.MaxInt16
	}
	if v < math.MinInt16 {
		return math.MinInt16
	}
	return int16(v)
}
