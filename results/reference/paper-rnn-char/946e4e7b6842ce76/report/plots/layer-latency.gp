# blkrew plot 'layer-latency', generated from the run's records (deterministic).
# Data: layer-latency.csv (first row: column names). Draw it here with: gnuplot layer-latency.gp
if (!exists("outfile")) outfile = 'layer-latency.svg'
set encoding utf8
set terminal svg size 800,420 dynamic noenhanced font 'sans,11' background rgb 'white'
set output outfile
set datafile separator ','
set datafile missing ''
set title 'Per-layer latency of the Pareto-front configurations'
set grid
set key outside right top
set ylabel 'latency (µs)'
set style data histograms
set style histogram rowstacked
set style fill solid 0.85 border -1
set boxwidth 0.7
set xtics rotate by -30 left
set yrange [0:*]
plot 'layer-latency.csv' skip 1 using 3:xtic(1) lc 1 title 'gru.weight_ih_l0', \
     '' skip 1 using 4 lc 2 title 'gru.weight_hh_l0', \
     '' skip 1 using 5 lc 3 title 'fc'
