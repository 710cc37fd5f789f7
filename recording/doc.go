// Package recording turns the decoded audio of 1..N RTP streams into one
// time-aligned recording file and gets it into a bucket.
//
// A recording is WAV (PCM16, a mono mix or one channel per party) or MP3
// (through LAME's shared library, loaded at run time without cgo). Lost packets
// and paused stretches become silence of exactly their length, so the file's
// timeline is the call's wall-clock timeline. Files are written crash-safely:
// a WAV on disk is playable at any moment, and a recording cut off by a crash
// is repaired on the next start. Finished files are uploaded through storage
// with the object key ACCOUNT_SID/APPLICATION_SID/SESSION_ID.wav|mp3.
//
// Recording policy (which calls to record) is not this package's job: it
// records what it is told to.
package recording
