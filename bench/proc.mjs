// Server CPU time from /proc (Linux): user + system ms of a process and the pids of a process's
// children. Unlike latency it hardly moves when other work shares the machine.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
} catch {
  // keep 100, the usual value
}

/** { ppid, comm, cpuMs (user + system) } of a process, or null once it is gone. */
export function procStat(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(f[1]), comm, cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / clockTicks };
  } catch {
    return null;
  }
}

/** Pids of the direct children of `parent` (optionally only those named `comm`). */
export function childPids(parent, comm) {
  let entries = [];
  try {
    entries = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
  return entries.map(Number).filter((pid) => {
    const st = procStat(pid);
    return st && st.ppid === parent && (!comm || st.comm === comm);
  });
}

/** CPU ms used so far by a server: `pids()` lists its processes at the time of the call. */
export function cpuMeter(pids) {
  return () => pids().reduce((sum, pid) => sum + (procStat(pid)?.cpuMs ?? 0), 0);
}
