package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// SmallFS mounts a tmpfs of size bytes on a fresh folder and unmounts it
// when the test ends, so a test can fill a real filesystem and get
// ENOSPC from the kernel. Mounting needs root; without it the test fails
// under CI=true (a skip there would hide a broken setup) and is skipped
// elsewhere, saying why.
func SmallFS(t testing.TB, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		msg := "mounting a small tmpfs to fill needs root (run the test as root, or in a container with CAP_SYS_ADMIN)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("mount a %d-byte tmpfs on %s: %v: %s", size, dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Fill writes a file of zeros into dir until the filesystem is full and
// returns its path; removing it gives the space back.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "filler-")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			break // ENOSPC: full
		}
	}
	return f.Name()
}
