// Command interpreter is a code interpreter's loop on a snakepit pool: the
// user uploads a CSV, model-written Python computes with csv and
// statistics and writes report.json, and the host returns the files the
// code wrote, saving them with each name checked by runtime.HostPath. A
// session keeps the upload for the next cell, which draws chart.svg from
// it; a third cell names a file to escape a Windows host's folder, and is
// not saved.
package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
)

const sales = `region,month,amount
north,jan,120.5
north,feb,98
south,jan,143
south,feb,151.25
west,jan,87
`

// The cells a model might write.
const (
	summarise = `
import csv, json, statistics
from collections import defaultdict
by_region = defaultdict(list)
with open("sales.csv", newline="") as f:
    for row in csv.DictReader(f):
        by_region[row["region"]].append(float(row["amount"]))
report = {r: {"total": sum(v), "mean": statistics.mean(v)} for r, v in sorted(by_region.items())}
with open("report.json", "w") as f:
    json.dump(report, f, indent=1, sort_keys=True)
print("regions:", len(report))
`
	chart = `
import csv, os
rows = list(csv.DictReader(open("sales.csv")))
bars = "".join(
    f'<rect x="{10 + 30 * i}" y="{200 - float(r["amount"])}" width="20" height="{r["amount"]}"/>'
    for i, r in enumerate(rows))
os.makedirs("out", exist_ok=True)
with open("out/chart.svg", "w") as f:
    f.write(f'<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200">{bars}</svg>')
`
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer) error {
	rt, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		return err
	}
	defer rt.Close(ctx)
	ss, err := pool.NewSessions(ctx, rt, pool.Options{
		Size: 1,
		Instance: runtime.Options{
			// Each conversation gets 8 MiB of files, at most 1,000 of them,
			// and at most 1 MiB of them back per cell.
			Limits: runtime.Limits{MaxMemory: 128 << 20, MaxScratchBytes: 8 << 20, MaxScratchFiles: 1000, MaxResultFiles: 1 << 20},
		},
	})
	if err != nil {
		return err
	}
	defer ss.Close(ctx)
	conv := ss.Session("conversation-1")
	// The host saves what the cells write here.
	saved, err := os.MkdirTemp("", "interpreter-out")
	if err != nil {
		return err
	}
	defer os.RemoveAll(saved)

	// Cell 1: the upload travels with the request.
	cell := runtime.Exec(summarise)
	cell.Files = map[string][]byte{"sales.csv": []byte(sales)}
	res, err := conv.Run(ctx, cell)
	if err != nil {
		return err
	}
	fmt.Fprint(out, string(res.Stdout))
	if err := saveFiles(out, saved, res); err != nil {
		return err
	}
	fmt.Fprint(out, string(res.Files["report.json"]), "\n")

	// Cell 2: same session, so sales.csv is still there.
	res, err = conv.Run(ctx, runtime.Exec(chart))
	if err != nil {
		return err
	}
	if err := saveFiles(out, saved, res); err != nil {
		return err
	}
	fmt.Fprintf(out, "chart.svg has %d bars\n", strings.Count(string(res.Files["out/chart.svg"]), "<rect"))

	// Cell 3: code that names a file to escape a Windows host's folder. The
	// names of Result.Files are the guest's: HostPath refuses this one.
	res, err = conv.Run(ctx, runtime.Exec(`open("..\\evil.txt", "w").write("x")`))
	if err != nil {
		return err
	}
	if err := saveFiles(out, saved, res); err != nil {
		return err
	}

	// Everything the session holds, read from the host between cells.
	files, err := conv.Files()
	if err != nil {
		return err
	}
	return fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			fmt.Fprintf(out, "session file %s (%d bytes)\n", name, info.Size())
		}
		return err
	})
}

// saveFiles writes the files a cell wrote under dir, each name checked for
// this host first.
func saveFiles(out io.Writer, dir string, res *runtime.Result) error {
	var names []string
	for _, name := range slices.Sorted(maps.Keys(res.Files)) {
		p, err := runtime.HostPath(dir, name)
		if err != nil {
			fmt.Fprintf(out, "not saved: %q\n", name)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, res.Files[name], 0o644); err != nil {
			return err
		}
		names = append(names, name)
	}
	if len(names) > 0 {
		fmt.Fprintf(out, "written: %s\n", strings.Join(names, ", "))
	}
	return nil
}
