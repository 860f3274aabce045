// Package letterstest reads printed letters back in tests, with Debian's
// pdftotext (poppler-utils), as an office would read the PDF.
package letterstest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// NeedPDFToText skips a test that reads letters back when pdftotext is
// missing on a developer's machine. make test installs it
// (scripts/test-deps) and sets SESAME_REQUIRE_TOOLS: there a missing tool
// fails instead of skipping the test unseen.
func NeedPDFToText(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		if os.Getenv("SESAME_REQUIRE_TOOLS") != "" {
			tb.Fatal("pdftotext missing: install Debian's poppler-utils")
		}
		tb.Skip("pdftotext missing (Debian's poppler-utils)")
	}
}

// FileText is the text of the PDF at path, laid out as printed; pages end
// with a form feed.
func FileText(tb testing.TB, path string) string {
	tb.Helper()
	out, err := exec.Command("pdftotext", "-layout", path, "-").Output()
	if err != nil {
		tb.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

// Text is FileText of a PDF held in memory.
func Text(tb testing.TB, pdf []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "letter.pdf")
	if err := os.WriteFile(p, pdf, 0o600); err != nil {
		tb.Fatal(err)
	}
	return FileText(tb, p)
}
