"""The profiles Temper ships, as YAML with a source cited for every thread name they rely on.

Why it exists: the common programs an SRE packs on a node name their threads in their own
source; these profiles encode that knowledge once. ``BUILTINS`` maps name -> YAML text;
``builtin_profiles()`` parses them (the golden tests in tests/core/test_profile_builtins.py
pin the group every real thread name lands in). Threads no group names stay in the pod's tier.
MariaDB images select the mysql profile; MariaDB names fewer threads, the rest stay normal.
"""

from __future__ import annotations

from functools import cache

from temper.profiles.model import Profile, parse_profile

MYSQL = """\
name: mysql
version: 1
description: MySQL 8 / InnoDB. Redo log and read I/O on the commit/query path; purge and stats are housekeeping.
selectors:
  images: ["mysql:*", "mariadb:*", "*/mysql:*", "*/mariadb:*", "mysql/mysql-server:*"]
  processes: ["mysqld", "mariadbd"]
# Thread names: InnoDB registers each background thread with an OS name through
# PSI_THREAD_KEY / mysql_thread_set_psi_name, see storage/innobase/handler/ha_innodb.cc
# (https://github.com/mysql/mysql-server/blob/8.0/storage/innobase/handler/ha_innodb.cc,
# the all_innodb_threads[] table). Connection threads ("connection") stay normal.
groups:
  - name: redo-log
    treatment: latency
    comm: {prefix: "ib_log_"}      # ib_log_writer, ib_log_flush, ib_log_wr_notif, ib_log_fl_notif, ib_log_checkpt
    source: https://github.com/mysql/mysql-server/blob/8.0/storage/innobase/handler/ha_innodb.cc
  - name: read-io
    treatment: latency
    comm: {prefix: "ib_io_rd"}     # ib_io_rd-N (io_read_thread)
    source: https://github.com/mysql/mysql-server/blob/8.0/storage/innobase/handler/ha_innodb.cc
  - name: write-io
    treatment: normal
    comm: {prefix: "ib_io_wr"}     # ib_io_wr-N
    source: https://github.com/mysql/mysql-server/blob/8.0/storage/innobase/handler/ha_innodb.cc
  - name: page-flush
    treatment: normal
    comm: {prefix: "ib_pg_flush"}  # ib_pg_flush_co, ib_pg_flush-N
    source: https://github.com/mysql/mysql-server/blob/8.0/storage/innobase/handler/ha_innodb.cc
  - name: purge
    treatment: yield
    comm: {prefix: "ib_srv_"}      # ib_srv_purge, ib_srv_wkr-N, ib_srv_lock_to, ib_srv_mon, ib_srv_err_mon
    source: https://github.com/mysql/mysql-server/blob/8.0/storage/innobase/srv/srv0srv.cc
  - name: dict-stats
    treatment: yield
    comm: {prefix: "ib_dict_"}
    source: https://github.com/mysql/mysql-server/blob/8.0/storage/innobase/handler/ha_innodb.cc
  - name: buffer-dump
    treatment: yield
    comm: {exact: "ib_buf_dump"}
    source: https://github.com/mysql/mysql-server/blob/8.0/storage/innobase/handler/ha_innodb.cc
  - name: fulltext
    treatment: yield
    comm: {prefix: "ib_fts_"}
    source: https://github.com/mysql/mysql-server/blob/8.0/storage/innobase/handler/ha_innodb.cc
"""

PYTORCH = """\
name: pytorch
version: 1
description: PyTorch training.
# Main loop, autograd and pin-memory threads feed the accelerator; dataloader workers are throughput.
selectors:
  images: ["pytorch/*", "*/pytorch:*", "nvcr.io/nvidia/pytorch:*", "*/pytorch/*"]
  processes: ["python", "python3", "torchrun"]
groups:
  - name: main
    treatment: latency
    comm: {exact: "pt_main_thread"}  # torch/__init__.py sets the main thread name on import
    source: https://github.com/pytorch/pytorch/blob/main/torch/__init__.py
  - name: autograd
    treatment: latency
    comm: {prefix: "pt_autograd_"}   # c10::setThreadName("pt_autograd_" + device) in engine.cpp
    source: https://github.com/pytorch/pytorch/blob/main/torch/csrc/autograd/engine.cpp
  - name: pin-memory
    treatment: latency
    comm: {exact: "pt_data_pin"}     # torch.utils.data._utils.pin_memory._pin_memory_loop
    source: https://github.com/pytorch/pytorch/blob/main/torch/utils/data/_utils/pin_memory.py
  - name: dataloader
    treatment: normal
    comm: {exact: "pt_data_worker"}  # torch.utils.data._utils.worker._worker_loop
    source: https://github.com/pytorch/pytorch/blob/main/torch/utils/data/_utils/worker.py
"""

MEMCACHED = """\
name: memcached
version: 1
description: memcached. Worker threads serve requests; LRU, crawler and slab maintainers are housekeeping.
selectors:
  images: ["memcached:*", "*/memcached:*"]
  processes: ["memcached"]
groups:
  - name: workers
    treatment: latency
    comm: {exact: "mc-worker"}
    source: https://github.com/memcached/memcached/blob/master/thread.c
  - name: listener
    treatment: latency
    comm: {exact: "memcached"}        # the main (accept / dispatch) thread keeps the process name
    source: https://github.com/memcached/memcached/blob/master/memcached.c
  - name: lru-maintainer
    treatment: yield
    comm: {exact: "mc-lrumaint"}
    source: https://github.com/memcached/memcached/blob/master/items.c
  - name: item-crawler
    treatment: yield
    comm: {exact: "mc-itemcrawler"}
    source: https://github.com/memcached/memcached/blob/master/crawler.c
  - name: slab-rebalance
    treatment: yield
    comm: {exact: "mc-slabmaint"}
    source: https://github.com/memcached/memcached/blob/master/slabs.c
  - name: hash-expand
    treatment: yield
    comm: {exact: "mc-assocmaint"}
    source: https://github.com/memcached/memcached/blob/master/assoc.c
  - name: logger
    treatment: yield
    comm: {exact: "mc-logger"}
    source: https://github.com/memcached/memcached/blob/master/logger.c
"""

REDIS = """\
name: redis
version: 1
description: Redis / Valkey.
# Main event loop and I/O threads serve clients; bio threads (close, fsync, lazy free) are housekeeping.
selectors:
  images: ["redis:*", "valkey/valkey:*", "*/redis:*", "*/valkey:*", "redis/redis-stack-server:*"]
  processes: ["redis-server", "valkey-server"]
groups:
  - name: main
    treatment: latency
    comm: {exact: "redis-server"}
    source: https://github.com/redis/redis/blob/unstable/src/server.c
  - name: valkey-main
    treatment: latency
    comm: {exact: "valkey-server"}
    source: https://github.com/valkey-io/valkey/blob/unstable/src/server.c
  - name: io-threads
    treatment: latency
    comm: {prefix: "io_thd_"}         # io_thd_N (redis iothread.c, valkey io_threads.c)
    source: https://github.com/redis/redis/blob/unstable/src/iothread.c
  - name: background-io
    treatment: yield
    comm: {prefix: "bio_"}            # bio_close_file, bio_aof, bio_lazy_free
    source: https://github.com/redis/redis/blob/unstable/src/bio.c
"""

JVM = """\
name: jvm
version: 1
description: HotSpot JVM services.
# Stop-the-world GC workers run while the application is paused; JIT compilers are housekeeping.
selectors:
  images: ["eclipse-temurin:*", "openjdk:*", "amazoncorretto:*", "*/jre:*", "*/jdk:*"]
  processes: ["java"]
groups:
  - name: stw-gc
    treatment: latency
    comm: {prefix: "GC Thread#"}      # WorkerThreads "GC Thread#N"
    source: https://github.com/openjdk/jdk/blob/master/src/hotspot/share/gc/shared/workerThread.cpp
  - name: concurrent-gc
    treatment: normal
    comm: {prefix: "G1 "}             # G1 Main Marker, G1 Conc#N, G1 Refine#N, G1 Service
    source: https://github.com/openjdk/jdk/blob/master/src/hotspot/share/gc/g1/g1ConcurrentMarkThread.cpp
  - name: jit
    treatment: yield
    comm: {regex: "C[12] CompilerThre"}   # "C2 CompilerThread0" truncated to 15 bytes
    source: https://github.com/openjdk/jdk/blob/master/src/hotspot/share/compiler/compileBroker.cpp
  - name: periodic-task
    treatment: yield
    comm: {exact: "VM Periodic Tas"}  # "VM Periodic Task Thread" truncated
    source: https://github.com/openjdk/jdk/blob/master/src/hotspot/share/runtime/nonJavaThread.cpp
  - name: cleaner
    treatment: yield
    comm: {exact: "Common-Cleaner"}
    source: https://github.com/openjdk/jdk/blob/master/src/java.base/share/classes/jdk/internal/ref/CleanerFactory.java
"""

POSTGRESQL = """\
name: postgresql
version: 1
description: PostgreSQL.
# One process per role, named only in argv (ps title): the agent classifies by cmdline
# and hands the kernel per-thread hints.
selectors:
  images: ["postgres:*", "*/postgres:*", "*/postgresql:*"]
  processes: ["postgres"]
groups:
  - name: wal
    treatment: latency
    cmdline: {contains: "walwriter"}
    source: https://github.com/postgres/postgres/blob/master/src/backend/utils/init/miscinit.c
  - name: replication
    treatment: latency
    cmdline: {contains: "walsender"}
    source: https://github.com/postgres/postgres/blob/master/src/backend/utils/init/miscinit.c
  - name: housekeeping
    treatment: yield
    cmdline: {contains: "autovacuum"}
    source: https://github.com/postgres/postgres/blob/master/src/backend/postmaster/autovacuum.c
  - name: writers
    treatment: yield
    cmdline: {contains: "checkpointer"}
    source: https://github.com/postgres/postgres/blob/master/src/backend/postmaster/checkpointer.c
"""

NGINX = """\
name: nginx
version: 1
description: nginx. Workers serve requests; cache manager and loader are housekeeping (roles set in argv).
selectors:
  images: ["nginx:*", "*/nginx:*", "nginxinc/*"]
  processes: ["nginx"]
groups:
  - name: workers
    treatment: latency
    cmdline: {prefix: "nginx: worker process"}
    source: https://github.com/nginx/nginx/blob/master/src/os/unix/ngx_process_cycle.c
  - name: cache
    treatment: yield
    cmdline: {prefix: "nginx: cache "}
    source: https://github.com/nginx/nginx/blob/master/src/os/unix/ngx_process_cycle.c
"""

BUILTINS: dict[str, str] = {
    "mysql": MYSQL, "pytorch": PYTORCH, "memcached": MEMCACHED, "redis": REDIS, "jvm": JVM,
    "postgresql": POSTGRESQL, "nginx": NGINX,
}


@cache
def builtin_profiles() -> dict[str, Profile]:
    return {name: parse_profile(text) for name, text in BUILTINS.items()}
