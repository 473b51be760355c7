// A null OpenSearch `_bulk` endpoint written in Go with the standard
// library only, as issue #17's independent measurement used: every
// `_bulk` action gets one `201` item, anything else `200 {}`. It lets
// `weir-load --target http://ADDR` measure Weir against a `_bulk` server
// that is not weir-load's own (BENCHMARKS.md, "An independent client").
//
//	go run ./tools/load/go-null-bulk -listen 127.0.0.1:9299
package main

import (
	"bytes"
	"flag"
	"io"
	"log"
	"net/http"
	"strconv"
	"strings"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9299", "address to listen on")
	flag.Parse()
	item := []byte(`{"index":{"status":201}}`)
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if !strings.HasSuffix(r.URL.Path, "/_bulk") {
			w.Write([]byte("{}"))
			return
		}
		// an action line and a source line per document
		items := bytes.Count(body, []byte("\n")) / 2
		var out bytes.Buffer
		out.Grow(items*(len(item)+1) + 40)
		out.WriteString(`{"took":1,"errors":false,"items":[`)
		for i := 0; i < items; i++ {
			if i > 0 {
				out.WriteByte(',')
			}
			out.Write(item)
		}
		out.WriteString("]}")
		w.Header().Set("Content-Length", strconv.Itoa(out.Len()))
		w.Write(out.Bytes())
	})
	log.Printf("null _bulk on %s", *listen)
	log.Fatal(http.ListenAndServe(*listen, nil))
}
