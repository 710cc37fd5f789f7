// Package spool connects package recording to package storage: its
// Uploader is the recording.Uploader that hands every finished recording
// to a storage.Spool, which keeps it on local disk until the account's
// bucket has confirmed it.
//
// It is a package of its own so that package recording does not link
// package storage, and with it the S3, Google Cloud Storage and Azure
// clients, into programs that only record: a program that records one WAV
// file is 3.8 MB; importing storage makes it 67 MB (linux/amd64,
// CGO_ENABLED=0). A gateway imports both:
//
//	sp, _ := storage.OpenSpool(storage.SpoolConfig{Dir: "/var/spool/voicegw/upload", Resolve: bucketOfAccount})
//	go sp.Run(ctx)
//	uploader := &spool.Uploader{Spool: sp}
//	dir, _ := recording.OpenDir(recording.DirConfig{Path: "/var/spool/voicegw/rec", Uploader: uploader})
//	dir.Recover(ctx) // repairs what a crash cut off and hands it to the spool
//	...
//	res, err := rec.Finish(ctx) // res.Uploaded: safe in the spool, res.Key: where it lands
//
// See package recording's documentation for the whole path from RTP to the
// bucket.
package spool
