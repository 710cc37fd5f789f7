package metadata_test

import (
	"fmt"
	"time"

	"github.com/voicegw/voicegw/siprec/metadata"
)

const invite = `<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns='urn:ietf:params:xml:ns:recording:1'>
  <datamode>complete</datamode>
  <session session_id="c1"><start-time>2024-05-01T10:00:00Z</start-time></session>
  <participant participant_id="pA"><nameID aor="sip:alice@example.com"><name xml:lang="en">Alice</name></nameID></participant>
  <participant participant_id="pB"><nameID aor="sip:bob@example.com"><name xml:lang="en">Bob</name></nameID></participant>
  <stream stream_id="s1" session_id="c1"><label>1</label></stream>
  <stream stream_id="s2" session_id="c1"><label>2</label></stream>
  <participantsessionassoc participant_id="pA" session_id="c1"><associate-time>2024-05-01T10:00:00Z</associate-time></participantsessionassoc>
  <participantsessionassoc participant_id="pB" session_id="c1"><associate-time>2024-05-01T10:00:00Z</associate-time></participantsessionassoc>
  <participantstreamassoc participant_id="pA"><send>s1</send><recv>s2</recv></participantstreamassoc>
  <participantstreamassoc participant_id="pB"><send>s2</send><recv>s1</recv></participantstreamassoc>
  <recordingID xmlns="urn:x-voicegw:siprec:1">rec-7</recordingID>
</recording>`

// A recording server parses the metadata of a SIPREC INVITE, checks it
// against the a=label values of the SDP offer and lists who sends on which
// label.
func ExampleParse() {
	md, err := metadata.Parse([]byte(invite))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := md.CheckLabels([]string{"1", "2"}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("recording ID:", md.RecordingID())
	for _, p := range md.ParticipantStreams() {
		fmt.Printf("%s (%s) sends on %v\n", p.Participant.DisplayName(), p.Participant.AOR(), p.Send)
	}
	// Output:
	// recording ID: rec-7
	// Alice (sip:alice@example.com) sends on [1]
	// Bob (sip:bob@example.com) sends on [2]
}

// The server keeps a State per recording session and applies each metadata
// update it receives (re-INVITE, UPDATE, BYE).
func ExampleState_Apply() {
	md, _ := metadata.Parse([]byte(invite))
	var state metadata.State
	state.Apply(md)

	update, _ := metadata.Parse([]byte(`<recording xmlns="urn:ietf:params:xml:ns:recording:1">
  <datamode>partial</datamode>
  <participantsessionassoc participant_id="pB" session_id="c1">
    <disassociate-time>2024-05-01T10:05:00Z</disassociate-time>
  </participantsessionassoc>
</recording>`))
	for _, c := range state.Apply(update) {
		fmt.Println(c)
	}
	for _, p := range state.Recording().ParticipantStreams() {
		fmt.Println(p.Participant.ID, "active:", p.Active)
	}
	// Output:
	// participant-left pB session=c1 at 2024-05-01T10:05:00Z
	// pA active: true
	// pB active: false
}

func ExampleRecording_CheckLabels() {
	md, _ := metadata.Parse([]byte(invite))
	fmt.Println(md.CheckLabels([]string{"1"}))
	// Output:
	// metadata: stream labels do not match the SDP offer: labels ["2"] are not in the offer
}

// A recording client describes the call it forks and forwards its recording
// ID.
func ExampleNewComplete() {
	md := metadata.NewComplete(metadata.Call{
		SessionID: "c1",
		Start:     time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC),
		Parties: []metadata.Party{
			{ID: "pA", AOR: "sip:alice@example.com", Name: "Alice", Label: "1", StreamID: "s1"},
			{ID: "pB", AOR: "sip:bob@example.com", Label: "2", StreamID: "s2"},
		},
		RecordingID: "rec-7",
	})
	xml, err := md.Marshal()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(xml))
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?>
	// <recording xmlns="urn:ietf:params:xml:ns:recording:1">
	//   <datamode>complete</datamode>
	//   <session session_id="c1">
	//     <start-time>2024-05-01T10:00:00Z</start-time>
	//   </session>
	//   <participant participant_id="pA">
	//     <nameID aor="sip:alice@example.com">
	//       <name>Alice</name>
	//     </nameID>
	//   </participant>
	//   <participant participant_id="pB">
	//     <nameID aor="sip:bob@example.com"/>
	//   </participant>
	//   <stream stream_id="s1" session_id="c1">
	//     <label>1</label>
	//   </stream>
	//   <stream stream_id="s2" session_id="c1">
	//     <label>2</label>
	//   </stream>
	//   <sessionrecordingassoc session_id="c1">
	//     <associate-time>2024-05-01T10:00:00Z</associate-time>
	//   </sessionrecordingassoc>
	//   <participantsessionassoc participant_id="pA" session_id="c1">
	//     <associate-time>2024-05-01T10:00:00Z</associate-time>
	//   </participantsessionassoc>
	//   <participantsessionassoc participant_id="pB" session_id="c1">
	//     <associate-time>2024-05-01T10:00:00Z</associate-time>
	//   </participantsessionassoc>
	//   <participantstreamassoc participant_id="pA">
	//     <send>s1</send>
	//     <recv>s2</recv>
	//   </participantstreamassoc>
	//   <participantstreamassoc participant_id="pB">
	//     <send>s2</send>
	//     <recv>s1</recv>
	//   </participantstreamassoc>
	//   <recordingID xmlns="urn:x-voicegw:siprec:1">rec-7</recordingID>
	// </recording>
}

func ExampleRecording_SetRecordingID() {
	var md metadata.Recording
	md.SetRecordingID("rec-7")
	fmt.Println(md.Extensions[0].XML)
	fmt.Println(md.RecordingID())
	// Output:
	// <recordingID xmlns="urn:x-voicegw:siprec:1">rec-7</recordingID>
	// rec-7
}
