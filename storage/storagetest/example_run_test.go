package storagetest_test

import "testing"

// The helper of ExampleRunConformance runs for real here, so the example
// is not only compiled but also known to pass.
func TestExampleRunConformanceHelper(t *testing.T) {
	testS3CompatibleBucket(t)
}
