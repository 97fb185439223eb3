package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestBoto3 runs boto3_e2e.py with the default python3, which must have
// boto3 (.ci/run checks it).
func TestBoto3(t *testing.T) {
	python := os.Getenv("METERD_PYTHON")
	var err error
	if python == "" {
		python, err = exec.LookPath("python3")
	}
	if err != nil {
		t.Fatal("python3 not found: the boto3 end-to-end test needs it")
	}
	s := start(t, serverOpts{})
	cmd := exec.Command(python, "boto3_e2e.py")
	cmd.Env = append(os.Environ(), "METERD_ENDPOINT="+s.Endpoint(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	out, err := cmd.CombinedOutput()
	t.Logf("%s", strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("boto3_e2e.py: %v", err)
	}
}
