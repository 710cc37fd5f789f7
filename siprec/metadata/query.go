package metadata

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrLabelMismatch is matched by the error of CheckLabels.
var ErrLabelMismatch = errors.New("metadata: stream labels do not match the SDP offer")

// LabelError is the error of CheckLabels: the metadata streams that no m-line
// of the offer carries.
type LabelError struct {
	// NotOffered are stream labels of the metadata that are no a=label of
	// the offer.
	NotOffered []string
	// Unlabelled are the IDs of streams that have no label, and so cannot be
	// related to any m-line.
	Unlabelled []string
}

// Error names the labels and streams at fault.
func (e *LabelError) Error() string {
	var parts []string
	if len(e.NotOffered) > 0 {
		parts = append(parts, fmt.Sprintf("labels %q are not in the offer", e.NotOffered))
	}
	if len(e.Unlabelled) > 0 {
		parts = append(parts, fmt.Sprintf("streams %q have no label", e.Unlabelled))
	}
	return ErrLabelMismatch.Error() + ": " + strings.Join(parts, "; ")
}

// Unwrap returns ErrLabelMismatch.
func (e *LabelError) Unwrap() error { return ErrLabelMismatch }

// CheckLabels checks RFC 7866 §9's relation between metadata and SDP: every
// stream of r is labelled, and its label is one of offered (the a=label values
// of the SDP offer's m-lines). Offered labels that no stream describes are
// fine (a client may describe streams later). Call it on the merged state
// (State.Recording), since a partial update lists only what changed. The
// error is a *LabelError.
func (r *Recording) CheckLabels(offered []string) error {
	var e LabelError
	for _, s := range r.Streams {
		switch {
		case s.Label == "":
			e.Unlabelled = append(e.Unlabelled, s.ID)
		case !slices.Contains(offered, s.Label):
			if !slices.Contains(e.NotOffered, s.Label) {
				e.NotOffered = append(e.NotOffered, s.Label)
			}
		}
	}
	if e.NotOffered == nil && e.Unlabelled == nil {
		return nil
	}
	return &e
}

// Labels returns the labels of r's streams in document order, without
// duplicates or empty labels.
func (r *Recording) Labels() []string {
	var out []string
	for _, s := range r.Streams {
		if s.Label != "" && !slices.Contains(out, s.Label) {
			out = append(out, s.Label)
		}
	}
	return out
}

// ParticipantStreams is one participant with the labels of the streams it
// sends and receives.
type ParticipantStreams struct {
	// Participant is the <participant> element; for a participant known only
	// from associations, just its ID.
	Participant Participant
	// Active is false once the participant has left: every
	// participantsessionassoc of it has a disassociate-time. A participant
	// without any participantsessionassoc is active.
	Active bool
	// Send and Recv are stream labels, in document order.
	Send []string
	Recv []string // see Send
}

// ParticipantStreams says, for every participant, on which stream labels it
// sends and which it receives. Streams come from <participantstreamassoc>
// and from <send>/<recv> inside <participant>; stream IDs that no labelled
// <stream> describes are left out. Participants are in document order, then
// those known only from associations.
func (r *Recording) ParticipantStreams() []ParticipantStreams {
	label := make(map[string]string, len(r.Streams))
	for _, s := range r.Streams {
		if _, dup := label[s.ID]; !dup {
			label[s.ID] = s.Label
		}
	}
	act := activity(r)
	out := make([]ParticipantStreams, 0, len(act.order))
	for _, id := range act.order {
		ps := ParticipantStreams{Active: act.state[id].active}
		if p, ok := r.Participant(id); ok {
			ps.Participant = p
		} else {
			ps.Participant = Participant{ID: id}
		}
		send, recv := r.streamsOf(id)
		ps.Send = labelsOf(send, label)
		ps.Recv = labelsOf(recv, label)
		out = append(out, ps)
	}
	return out
}

// SendersOf returns the participants that send on the stream labelled label.
func (r *Recording) SendersOf(label string) []Participant {
	var out []Participant
	for _, ps := range r.ParticipantStreams() {
		if slices.Contains(ps.Send, label) {
			out = append(out, ps.Participant)
		}
	}
	return out
}

// streamsOf returns the stream IDs participant id sends and receives.
func (r *Recording) streamsOf(id string) (send, recv []string) {
	for _, p := range r.Participants {
		if p.ID == id {
			send = appendNew(send, p.Send...)
			recv = appendNew(recv, p.Recv...)
		}
	}
	for _, a := range r.ParticipantStreamAssocs {
		if a.ParticipantID == id {
			send = appendNew(send, a.Send...)
			recv = appendNew(recv, a.Recv...)
		}
	}
	return send, recv
}

func appendNew(dst []string, vs ...string) []string {
	for _, v := range vs {
		if !slices.Contains(dst, v) {
			dst = append(dst, v)
		}
	}
	return dst
}

func labelsOf(ids []string, label map[string]string) []string {
	var out []string
	for _, id := range ids {
		if l := label[id]; l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// presence is whether a participant takes part, and the association that
// says so.
type presence struct {
	active    bool
	sessionID string
	at        time.Time // latest associate-time (active) or disassociate-time (left)
}

type participants struct {
	order []string
	state map[string]presence
}

// activity computes which participants are active: a participant with
// participantsessionassocs is active while one of them has no
// disassociate-time; one without any is active when it has a <participant>
// element.
func activity(r *Recording) participants {
	a := participants{state: make(map[string]presence, len(r.Participants))}
	add := func(id string) {
		if _, ok := a.state[id]; !ok {
			a.order = append(a.order, id)
			a.state[id] = presence{}
		}
	}
	for _, p := range r.Participants {
		add(p.ID)
	}
	for _, x := range r.ParticipantSessionAssocs {
		add(x.ParticipantID)
	}
	for _, x := range r.ParticipantStreamAssocs {
		add(x.ParticipantID)
	}
	hasPSA := make(map[string]bool, len(a.order))
	for _, x := range r.ParticipantSessionAssocs {
		hasPSA[x.ParticipantID] = true
	}
	for _, id := range a.order {
		if !hasPSA[id] {
			_, el := r.Participant(id)
			a.state[id] = presence{active: el}
			continue
		}
		var pr presence
		for _, x := range r.ParticipantSessionAssocs {
			if x.ParticipantID != id {
				continue
			}
			if x.DisassociateTime.IsZero() {
				if !pr.active || x.AssociateTime.After(pr.at) {
					pr = presence{active: true, sessionID: x.SessionID, at: x.AssociateTime}
				}
			} else if !pr.active && (pr.sessionID == "" && pr.at.IsZero() || x.DisassociateTime.After(pr.at)) {
				pr = presence{sessionID: x.SessionID, at: x.DisassociateTime}
			}
		}
		a.state[id] = pr
	}
	return a
}
