package account

import (
	"strings"
	"testing"
)

// TestParseCSVQuoteAtLastLine: a row that is only an opening quote (a file
// cut off in the middle of a quoted field, or a stray " typed in a
// spreadsheet cell) must be reported as a bad line, not crash the import
// (FieldPos(0) after a failed Read panicked before 280dfc0; found by
// FuzzParseCSV, whose crasher stays in testdata/fuzz).
func TestParseCSVQuoteAtLastLine(t *testing.T) {
	for _, in := range []string{
		"identifier,email,first_name,last_name,population,password\n\"",
		"identifier,email,first_name,last_name,population,password\nA1,,A,B,parents,x\n\"\n",
		"identifier,email,first_name,last_name,population,password\n\"A1,,A,B,parents,x\n",
	} {
		rows, bad, err := ParseCSV(strings.NewReader(in), known)
		if err != nil || len(bad) != 1 || !strings.Contains(bad[0].Reason, "unreadable CSV") {
			t.Errorf("%q: rows %v, bad %+v, err %v; want one unreadable line", in, rows, bad, err)
		}
	}
}
