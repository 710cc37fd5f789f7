module github.com/voicegw/voicegw

go 1.26
