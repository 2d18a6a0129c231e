# blkrew plot 'layer-latency', generated from the run's records (deterministic).
# Data: layer-latency.csv (first row: column names). Draw it here with: gnuplot layer-latency.gp
if (!exists("outfile")) outfile = 'layer-latency.svg'
set encoding utf8
set terminal svg size 800,660 dynamic noenhanced font 'sans,11' background rgb 'white'
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
plot 'layer-latency.csv' skip 1 using 3:xtic(1) lc 1 title 'conv1', \
     '' skip 1 using 4 lc 2 title 'layer1.0.conv1', \
     '' skip 1 using 5 lc 3 title 'layer1.0.conv2', \
     '' skip 1 using 6 lc 4 title 'layer1.1.conv1', \
     '' skip 1 using 7 lc 5 title 'layer1.1.conv2', \
     '' skip 1 using 8 lc 6 title 'layer1.2.conv1', \
     '' skip 1 using 9 lc 7 title 'layer1.2.conv2', \
     '' skip 1 using 10 lc 8 title 'layer2.0.conv1', \
     '' skip 1 using 11 lc 9 title 'layer2.0.conv2', \
     '' skip 1 using 12 lc 10 title 'layer2.1.conv1', \
     '' skip 1 using 13 lc 11 title 'layer2.1.conv2', \
     '' skip 1 using 14 lc 12 title 'layer2.2.conv1', \
     '' skip 1 using 15 lc 13 title 'layer2.2.conv2', \
     '' skip 1 using 16 lc 14 title 'layer3.0.conv1', \
     '' skip 1 using 17 lc 15 title 'layer3.0.conv2', \
     '' skip 1 using 18 lc 16 title 'layer3.1.conv1', \
     '' skip 1 using 19 lc 17 title 'layer3.1.conv2', \
     '' skip 1 using 20 lc 18 title 'layer3.2.conv1', \
     '' skip 1 using 21 lc 19 title 'layer3.2.conv2', \
     '' skip 1 using 22 lc 20 title 'fc'
