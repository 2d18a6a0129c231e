# blkrew plot 'pareto', generated from the run's records (deterministic).
# Data: pareto.csv (first row: column names). Draw it here with: gnuplot pareto.gp
if (!exists("outfile")) outfile = 'pareto.svg'
set encoding utf8
set terminal svg size 800,480 dynamic noenhanced font 'sans,11' background rgb 'white'
set output outfile
set datafile separator ','
set datafile missing ''
set title 'Pareto front: test accuracy vs model latency'
set grid
set key outside right top
set xlabel 'model latency (µs)'
set ylabel 'test bits per character'
set xrange [0:*]
set offsets 0, graph 0.05, graph 0.05, graph 0.05
size(kib) = 0.8 + 2.2 * sqrt(kib / 319.5)
plot 'pareto.csv' skip 1 using 7:10:8:9 with xerrorbars lc rgb '#999999' pt -1 notitle, \
     '' skip 1 using 7:10:(size($11)) with points pt 6 ps variable lc rgb '#1f77b4' title 'trial (area ∝ weights size)'
