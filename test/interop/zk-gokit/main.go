// Command zk-gokit drives go-kit's sd/zk against a real ZooKeeper, for
// rxdisco's interoperability tests. It prints one line per step on stdout.
//
//	zk-gokit register  SERVERS BASE NAME ADDRESS   registers ADDRESS as NAME under BASE with
//	                                               go-kit's Registrar until stdin closes, then deregisters
//	zk-gokit instances SERVERS PATH                prints the Instancer's sets as JSON lines
//	                                               until stdin closes
//
// SERVERS is a comma-separated list of host:port.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/go-kit/kit/sd"
	"github.com/go-kit/kit/sd/zk"
	"github.com/go-kit/log"
)

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: zk-gokit register SERVERS BASE NAME ADDRESS | instances SERVERS PATH")
		os.Exit(2)
	}
	logger := log.NewLogfmtLogger(os.Stderr)
	client, err := zk.NewClient(strings.Split(os.Args[2], ","), logger,
		zk.ConnectTimeout(5*time.Second), zk.SessionTimeout(5*time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
	defer client.Stop()
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()

	switch os.Args[1] {
	case "register":
		if len(os.Args) != 6 {
			os.Exit(2)
		}
		registrar := zk.NewRegistrar(client, zk.Service{
			Path: os.Args[3],
			Name: os.Args[4],
			Data: []byte(os.Args[5]),
		}, logger)
		registrar.Register()
		fmt.Println("registered")
		<-stdinClosed
		registrar.Deregister()
		fmt.Println("deregistered")
	case "instances":
		instancer, err := zk.NewInstancer(client, os.Args[3], logger)
		if err != nil {
			fmt.Fprintln(os.Stderr, "instancer:", err)
			os.Exit(1)
		}
		events := make(chan sd.Event, 16)
		instancer.Register(events)
		for {
			select {
			case e := <-events:
				if e.Err != nil {
					fmt.Fprintln(os.Stderr, "event error:", e.Err)
					continue
				}
				sorted := append([]string{}, e.Instances...)
				sort.Strings(sorted)
				line, _ := json.Marshal(sorted)
				fmt.Println(string(line))
			case <-stdinClosed:
				instancer.Deregister(events)
				instancer.Stop()
				return
			}
		}
	default:
		os.Exit(2)
	}
}
