//go:build !unix

package storage

import (
	"fmt"
	"os"
)

// lockDir creates path exclusively; without flock a crashed process leaves
// the file behind and an operator must remove it.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		if os.IsExist(err) {
			return nil, fmt.Errorf("%w: %s (remove it if no spool runs)", ErrSpoolLocked, path)
		}
		return nil, fmt.Errorf("storage: spool lock: %w", err)
	}
	return f, nil
}

func unlockDir(f *os.File) error {
	name := f.Name()
	err := f.Close()
	_ = os.Remove(name)
	return err
}
