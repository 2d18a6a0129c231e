# blkrew plot 'speedup-vs-compression', generated from the run's records (deterministic).
# Data: speedup-vs-compression.csv (first row: column names). Draw it here with: gnuplot speedup-vs-compression.gp
if (!exists("outfile")) outfile = 'speedup-vs-compression.svg'
set encoding utf8
set terminal svg size 800,480 dynamic noenhanced font 'sans,11' background rgb 'white'
set output outfile
set datafile separator ','
set datafile missing ''
set title 'Model speedup vs compression per block shape'
set grid
set key outside right top
set xlabel 'compression rate (×, log scale)'
set ylabel 'speedup over dense (×)'
set logscale x 2
set xrange [2.85714:44.8]
set offsets 0, 0, graph 0.05, graph 0.05
plot 'speedup-vs-compression.csv' skip 1 every ::0::3 using 3:5 with linespoints lw 2 pt 7 lc 1 title '1x1', \
     '' skip 1 every ::0::3 using 3:5:6 with yerrorbars pt -1 lc 1 notitle, \
     'speedup-vs-compression.csv' skip 1 every ::4::7 using 3:5 with linespoints lw 2 pt 7 lc 2 title '8x8', \
     '' skip 1 every ::4::7 using 3:5:6 with yerrorbars pt -1 lc 2 notitle, \
     1 with lines dt 2 lw 2 lc rgb '#444444' title 'dense (1×)'
